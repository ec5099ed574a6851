"""Migrations: `tangthu init-db` builds the schema through Alembic, idempotently, and the
migrations describe exactly the models (so a model change without a migration fails)."""

from __future__ import annotations

from pathlib import Path

from flask_migrate import check
from sqlalchemy import inspect

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
