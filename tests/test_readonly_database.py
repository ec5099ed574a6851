"""A database that refuses writes: reads go on, writes get a clear 503, nothing is lost,
and writing works again as soon as the database does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import event

from repository.extensions import db
from repository.models import Item
from tests.helpers import csrf_token, sign_in


@contextmanager
def read_only(app: Flask) -> Iterator[None]:
    """Every new connection refuses writes, as a read-only file or disk would."""

    def refuse_writes(connection, _record):  # type: ignore[no-untyped-def]
        connection.execute("PRAGMA query_only = ON")

    with app.app_context():
        engine = db.engine
        event.listen(engine, "connect", refuse_writes)
        engine.dispose()
    try:
        yield
    finally:
        with app.app_context():
            event.remove(engine, "connect", refuse_writes)


@pytest.fixture
def item_id(app: Flask, runner: FlaskCliRunner, make_pages) -> str:
    folder = make_pages(count=1)
    args = ["ingest", str(folder), "--collection", "c", "--title", "Sách", "--publish"]
    assert runner.invoke(args=args).exit_code == 0
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    with app.app_context():
        return str(db.session.execute(db.select(Item.id)).scalar_one())


def test_writes_are_refused_clearly_and_nothing_is_lost(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, item_id: str
) -> None:
    sign_in(client, "thuthu", "mat-khau-thu-thu")
    url = f"/admin/items/{item_id}"
    fields = {
        "title_vi": "Tên mới",
        "viewing_direction": "left-to-right",
        "behavior": "paged",
        "access": "open",
    }
    form = client.get(url).get_data(as_text=True)
    with read_only(app):
        for path in ("/", f"/items/{item_id}", f"/iiif/{item_id}/manifest", "/search?q=sach"):
            assert client.get(path).status_code == 200, path
        refused = client.post(
            url, data={**fields, "csrf_token": csrf_token(form)}, headers={"Accept-Language": "en"}
        )
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "60"
        page = refused.get_data(as_text=True)
        assert "nothing was saved" in page and "Traceback" not in page
        cli = runner.invoke(
            args=["create-user", "--reader", "docgia2", "--password", "mat-khau-dai-x"]
        )
        assert cli.exit_code == 1 and "the database refused" in cli.output
        assert "Traceback" not in cli.output
        assert client.get(url).status_code == 200  # reading goes on after the refusal
    with app.app_context():
        assert db.session.get(Item, item_id).title["vi"] == "Sách"  # nothing half-saved
    saved = client.post(
        url, data={**fields, "csrf_token": csrf_token(client.get(url).get_data(as_text=True))}
    )
    assert saved.status_code == 302  # the next write works, with no restart
    with app.app_context():
        assert db.session.get(Item, item_id).title["vi"] == "Tên mới"


def test_pages_are_read_while_another_process_writes(app: Flask, client: FlaskClient) -> None:
    """The SQLite file is in write-ahead-log mode (extensions.read_while_writing): a write
    under way elsewhere (usage being recorded, a curator saving) stops no reader. In
    SQLite's own mode this page waited out the busy time-out and failed."""
    import sqlite3

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL readers never wait for writers")
        path = db.engine.url.database
        assert client.get("/search?q=s").status_code == 200  # the index made, the mode set
    writer = sqlite3.connect(str(path), timeout=0.1)
    try:
        assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("UPDATE item SET title_sort = title_sort")
        assert client.get("/search?q=s").status_code == 200
    finally:
        writer.rollback()
        writer.close()
