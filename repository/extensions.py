"""Extensions, created unbound and bound to an app in create_app."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
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
    with the file; a file that cannot take it (read-only) keeps its own and is still read."""
    if engine.dialect.name != "sqlite":
        return engine

    def on_connect(connection: sqlite3.Connection, _record: Any) -> None:
        try:
            connection.execute("PRAGMA journal_mode=WAL").close()
        except sqlite3.OperationalError as error:
            log.warning("SQLite stays in its own journal mode: %s", error)

    event.listen(engine, "connect", on_connect)
    return engine
