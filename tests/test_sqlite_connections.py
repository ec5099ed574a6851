"""SQLite connections are kept between uses (their page cache with them), and none crosses a
fork: gunicorn forks its workers from a master that made the app (``preload_app``)."""

from __future__ import annotations

import os
import threading

import pytest
from flask import Flask
from sqlalchemy import Engine, text

from repository.extensions import db


@pytest.fixture
def engine(app: Flask) -> Engine:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL's pool is SQLAlchemy's own; these are SQLite's connections")
        return db.engine


def raw(engine: Engine) -> object:
    """The sqlite3 connection that the next use of the engine gets."""
    with engine.connect() as connection:
        connection.execute(text("SELECT count(*) FROM item")).scalar()
        return connection.connection.dbapi_connection


def test_a_connection_is_kept_for_the_next_use(engine: Engine) -> None:
    assert raw(engine) is raw(engine)


def in_child(work) -> int:  # type: ignore[no-untyped-def]
    """Run ``work`` in a forked child; its exit status (0: it held)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's own process
        try:
            code = work()
        except BaseException:  # noqa: BLE001 - any failure is the child's status
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_no_connection_crosses_a_fork(engine: Engine) -> None:
    held = engine.connect()  # in use in the parent while it forks (another thread's)
    held_raw = held.connection.dbapi_connection
    kept = raw(engine)  # waiting in the pool as the parent forks
    assert kept is not held_raw
    before = os.getpid()

    def child() -> int:
        with engine.connect() as connection:
            mine = connection.connection.dbapi_connection
            count = connection.execute(text("SELECT count(*) FROM item")).scalar()
            record = connection.connection._connection_record
            ours = record is not None and record.info["pid"] == os.getpid() != before
        return 0 if mine is not kept and mine is not held_raw and count == 0 and ours else 1

    try:
        assert in_child(child) == 0
        # The parent's connections are its own still: the held one answers, and the
        # one that was waiting in the pool was closed before the fork, not in the child.
        assert held.execute(text("SELECT count(*) FROM item")).scalar() == 0
        assert raw(engine) is not kept
    finally:
        held.close()


def test_threads_share_the_kept_connections(engine: Engine) -> None:
    """Eight threads at once, each with three connections (a page, a search, its counts),
    as a worker's threads do: none waits for the pool, none is refused."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def use() -> None:
        try:
            with engine.connect() as a, engine.connect() as b, engine.connect() as c:
                barrier.wait(timeout=10)
                for connection in (a, b, c):
                    connection.execute(text("SELECT 1")).scalar()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
