"""Migrations: `tangthu init-db` builds the schema through Alembic, idempotently, and the
migrations describe exactly the models (so a model change without a migration fails)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask_migrate import check, upgrade
from sqlalchemy import MetaData, Table, inspect, text

from repository import create_app
from repository.extensions import db


def test_init_db_migrates_an_empty_database_and_can_run_again(tmp_path: Path) -> None:
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "x", "TESTING": True}
    )
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert {"alembic_version", "item", "image", "collection", "user"} <= tables
        check()  # raises if the models differ from the migrations
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0


def _row(table: Any, **given: object) -> dict[str, object]:
    """A row of a reflected table: the values given, and a plain one for every other column
    that may not be empty and has no default of its own."""
    from datetime import datetime

    from sqlalchemy import JSON, Boolean, DateTime, Integer

    row = dict(given)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        kind = column.type
        row[column.name] = (
            {}
            if isinstance(kind, JSON)
            else False
            if isinstance(kind, Boolean)
            else 0
            if isinstance(kind, Integer)
            else datetime(2024, 1, 1)
            if isinstance(kind, DateTime)
            else ""
        )
    return row


def test_the_terms_of_items_already_there_are_written_by_their_migration(
    tmp_path: Path,
) -> None:
    """f2a7c9e1d3b5 makes item_term and fills it from the items' Dublin Core."""
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "x", "TESTING": True}
    )
    with app.app_context():
        upgrade(revision="d7e2b9c4a1f5")
        dc = {
            "subject": [{"value": "Thơ  Nôm", "lang": "vi"}, {"value": "thơ nôm", "lang": "vi"}],
            "coverage": [{"value": "Huế", "lang": "vi"}],
        }
        with db.engine.begin() as connection:
            collection = Table("collection", MetaData(), autoload_with=connection)
            item = Table("item", MetaData(), autoload_with=connection)
            connection.execute(collection.insert().values(_row(collection, id=1, slug="c")))
            connection.execute(item.insert().values(_row(item, id="i1", collection_id=1, dc=dc)))
        upgrade()
        rows = db.session.execute(text("SELECT kind, key, label FROM item_term")).all()
    assert sorted(rows) == [("place", "huế", "Huế"), ("subject", "thơ nôm", "Thơ Nôm")]
