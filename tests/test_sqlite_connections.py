"""SQLite connections are kept between uses (their page cache with them), and none crosses a
fork: gunicorn forks its workers from a master that made the app (``preload_app``)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, text

from repository.extensions import db

ROOT = Path(__file__).resolve().parents[1]


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


CHILD = """
import os, sys
from pathlib import Path
from sqlalchemy import create_engine, text
from repository.extensions import read_while_writing

path = Path(sys.argv[1])
engine = read_while_writing(create_engine(f"sqlite:///{path}"))
path.chmod(0o444)
path.parent.chmod(0o555)
try:
    with engine.connect() as connection:  # opened, and read, while the file refuses writes
        connection.execute(text("SELECT count(*) FROM t")).scalar()
finally:
    path.parent.chmod(0o755)
    path.chmod(0o644)
with engine.begin() as connection:  # the file takes writes again: so does the next use
    connection.execute(text("INSERT INTO t VALUES (2)"))
print("written")
"""


def test_a_connection_opened_while_the_file_is_read_only_is_not_kept(tmp_path: Path) -> None:
    """A SQLite connection opened while its file's modes refuse writing stays read-only:
    kept, it would refuse every write after the modes came back. Run without the powers
    that let root write anyway (as benchmarks/soak/faults.py runs the server)."""
    folder = tmp_path / "instance"
    folder.mkdir()
    database = folder / "tangthu.sqlite"
    with sqlite3.connect(database) as made:
        made.execute("CREATE TABLE t (n INTEGER)")
        made.execute("INSERT INTO t VALUES (1)")
    made.close()
    prefix = [] if os.geteuid() else ["setpriv", "--bounding-set=-dac_override,-fowner", "--"]
    done = subprocess.run(
        [*prefix, sys.executable, "-c", CHILD, str(database)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "written" in done.stdout, done.stderr[-2000:]
    with sqlite3.connect(database) as check:
        assert [n for (n,) in check.execute("SELECT n FROM t ORDER BY n")] == [1, 2]
    check.close()
