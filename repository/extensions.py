"""Extensions, created unbound and bound to an app in create_app."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import weakref
from typing import Any

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, MetaData, event, exc
from sqlalchemy.orm import DeclarativeBase

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    # Named constraints keep migrations portable between SQLite and PostgreSQL.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()
migrate = Migrate()


def ensure_database() -> None:
    """Bring the database to the newest schema through the migrations (idempotent).

    A database whose tables were made by ``db.create_all()`` from these same models (as
    the test fixtures do) is marked as current instead of migrated.
    """
    from flask_migrate import stamp, upgrade
    from sqlalchemy import inspect

    tables = inspect(db.engine).get_table_names()
    # "heads": every branch, so two migrations written side by side never stop a start.
    if "alembic_version" not in tables and "item" in tables:
        stamp(revision="heads")
    else:
        upgrade(revision="heads")


def read_while_writing(engine: Engine) -> Engine:
    """A SQLite file in write-ahead-log mode: readers go on while one process writes.

    In SQLite's default mode a write waits for every read to end and stops new ones until it
    is done; with usage recorded every few seconds, that queued whole pages behind reads of
    the catalogue (hundreds of ms, or wrk's 2 s time-outs, at 200,000 items). The mode stays
    with the file; a file that cannot take it (read-only) keeps its own and is still read.
    Its connections are kept between uses (see ``keep_connections``)."""
    if engine.dialect.name != "sqlite":
        return engine

    def on_connect(connection: sqlite3.Connection, _record: Any) -> None:
        try:
            connection.execute("PRAGMA journal_mode=WAL").close()
        except sqlite3.OperationalError as error:
            log.warning("SQLite stays in its own journal mode: %s", error)

    event.listen(engine, "connect", on_connect)
    keep_connections(engine)
    return engine


#: How long after a refused write each new SQLite connection is used once only: the
#: Retry-After that the refusal's 503 gives.
REFUSAL_WINDOW = 60.0

_pooled: weakref.WeakSet[Engine] = weakref.WeakSet()


def keep_connections(engine: Engine) -> None:
    """Keep SQLite connections open between uses, safely across refusals and forks.

    A kept connection keeps its page cache and its parsed schema: a search never asked
    before took 33 ms of CPU with a connection opened per use, 27 ms with kept ones (200,000
    items). Two things a connection per use gave for free are kept:

    - **Writing resumes once the file takes writes again.** A connection opened while the
      file refused writes stays read-only. So a connection opened while the file's modes
      forbid writing is used once, a refused write drops every kept connection, and for
      ``REFUSAL_WINDOW`` seconds after it each new connection is used once too.
    - **No connection crosses a fork** (gunicorn forks its workers from a master that made
      the app): kept connections are closed before ``os.fork`` and forgotten after it in the
      child, and one made in another process is never handed out.
    """
    refused = [-REFUSAL_WINDOW]
    path = engine.url.database
    on_disk = bool(path) and path != ":memory:" and not str(path).startswith("file:")

    def writable() -> bool:  # one access(2) per new connection, none per use
        return not on_disk or not os.path.exists(str(path)) or os.access(str(path), os.W_OK)

    def note_refusal(context: Any) -> None:
        error = context.original_exception
        if str(getattr(error, "sqlite_errorname", "")).startswith("SQLITE_READONLY"):
            refused[0] = time.monotonic()
            context.is_disconnect = True  # every kept connection is dropped

    def opened(_connection: sqlite3.Connection, record: Any) -> None:
        record.info["pid"] = os.getpid()
        record.info["once"] = time.monotonic() - refused[0] < REFUSAL_WINDOW or not writable()
        record.info["used"] = False

    def checkout(_connection: sqlite3.Connection, record: Any, proxy: Any) -> None:
        if record.info.get("pid") != os.getpid():  # the parent's: never closed from here
            record.dbapi_connection = proxy.dbapi_connection = None
            raise exc.DisconnectionError("a connection made in another process")
        if record.info.get("once") and record.info.get("used"):
            raise exc.DisconnectionError("opened while the database refused writes")
        record.info["used"] = True

    event.listen(engine, "handle_error", note_refusal)
    event.listen(engine, "connect", opened)
    event.listen(engine, "checkout", checkout)
    _pooled.add(engine)
    if not _Forks.watching:
        os.register_at_fork(before=_close_kept, after_in_child=_forget_kept)
        _Forks.watching = True


class _Forks:
    watching = False  # the fork hooks are set with the first engine, not at import


def _close_kept() -> None:
    for engine in list(_pooled):
        engine.pool.dispose()  # the connections waiting in the pool, closed in the parent


def _forget_kept() -> None:
    for engine in list(_pooled):
        engine.dispose(close=False)  # whatever a parent's thread held is not ours to close
