"""Backup and restore round trip, a damaged backup refused, and preservation bags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bagit
import pytest
from flask import Flask
from flask.testing import FlaskClient

from repository import create_app
from tests.s3server import S3Service, admin_client, real_s3_service  # noqa: F401  (SeaweedFS)


def snapshot(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """What a restore must bring back: checksums, manifests, search results, accounts."""
    from repository.extensions import db
    from repository.models import Image, Item, User

    with app.app_context():
        items = db.session.execute(db.select(Item).order_by(Item.id)).scalars().all()
        state = {
            "items": [(i.id, i.status, i.access, i.title) for i in items],
            "images": sorted(
                db.session.execute(db.select(Image.id, Image.sha256, Image.derivative_sha256)).all()
            ),
            "users": sorted(db.session.execute(db.select(User.username, User.role)).all()),
            "manifests": {
                i.id: client.get(f"/iiif/{i.id}/manifest").get_json()
                for i in items
                if i.status == "published"
            },
        }
    for query in ("ban mau", "tay minh", "nguyen"):
        page = client.get("/search", query_string={"q": query}).get_data(as_text=True)
        state[f"search {query}"] = sorted(i for i, *_ in state["items"] if i in page)
    return state


@pytest.fixture
def sample(app: Flask, runner) -> Flask:  # type: ignore[no-untyped-def]
    loaded = runner.invoke(args=["load-sample"])
    assert loaded.exit_code == 0, loaded.output
    read = runner.invoke(args=["ocr"])  # whatever the sample left queued
    assert read.exit_code == 0, loaded.output + read.output
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    items = runner.invoke(args=["withdraw", _book_to_withdraw(app)])
    assert items.exit_code == 0
    return app


def _book_to_withdraw(app: Flask) -> str:
    """A sample book to withdraw: not the printed one whose OCR text the test searches."""
    from repository.extensions import db
    from repository.models import Item

    with app.app_context():
        return str(
            db.session.execute(
                db.select(Item.id).filter_by(viewing_direction="right-to-left", ocr_languages=None)
            ).scalar_one()
        )


def test_backup_and_restore_round_trip(
    sample: Flask, client: FlaskClient, runner, tmp_path: Path, second_config: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(sample, client)
    assert before["search tay minh"], "the sample's OCR text should be searchable"  # noqa: S101
    result = runner.invoke(args=["backup", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output
    bag = bagit.Bag(str(tmp_path / "backup"))
    assert bag.is_valid()
    assert runner.invoke(args=["backup", str(tmp_path / "backup")]).exit_code != 0  # not empty

    fresh = Path(second_config["INSTANCE_PATH"])
    restored_app = create_app(second_config)
    restored = restored_app.test_cli_runner().invoke(args=["restore", str(tmp_path / "backup")])
    assert restored.exit_code == 0, restored.output
    after = snapshot(restored_app, restored_app.test_client())
    assert after == before
    # Every object came back byte for byte: the backup's checksums hold in the new storage.
    storage = fresh / "storage"
    for path, digest in bag.payload_entries().items():
        if path.startswith("data/objects/"):
            from repository.services.ingest import sha256_file

            assert sha256_file(storage / path.removeprefix("data/objects/")) == digest["sha256"]
    again = restored_app.test_cli_runner().invoke(args=["restore", str(tmp_path / "backup")])
    assert again.exit_code != 0 and "already holds items" in again.output


def test_a_damaged_backup_restores_nothing(
    sample: Flask, runner, tmp_path: Path, second_config: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(args=["backup", str(tmp_path / "b")]).exit_code == 0
    victim = next((tmp_path / "b" / "data" / "objects").rglob("*.tif"))
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    fresh = create_app(second_config)
    result = fresh.test_cli_runner().invoke(args=["restore", str(tmp_path / "b")])
    assert result.exit_code != 0 and "not a whole" in result.output
    from repository.extensions import db
    from repository.models import Item

    with fresh.app_context():
        assert db.session.execute(db.select(Item.id)).first() is None


def test_an_item_as_a_preservation_bag(sample: Flask, runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from repository.extensions import db
    from repository.models import Item

    with sample.app_context():
        item = db.session.execute(db.select(Item).filter_by(ocr_languages="vie")).scalar_one()
        item_id, pages = item.id, len(item.images)
    result = runner.invoke(args=["export-bag", item_id, str(tmp_path / "bag")])
    assert result.exit_code == 0, result.output
    bag = bagit.Bag(str(tmp_path / "bag"))
    assert bag.is_valid() and bag.info["External-Identifier"] == item_id
    data = tmp_path / "bag" / "data"
    assert len(list((data / "masters").iterdir())) == pages
    assert len(list((data / "text").glob("*.alto.xml"))) == pages
    assert json.loads((data / "manifest.json").read_text())["id"].endswith(f"/{item_id}/manifest")
    assert runner.invoke(args=["export-bag", "nosuch", str(tmp_path / "x")]).exit_code != 0


def test_on_s3_fixity_streams_and_backup_restores_every_object(
    s3_service: S3Service,
    tmp_path: Path,
    make_pages: Any,
    monkeypatch: pytest.MonkeyPatch,
    app_config: dict[str, Any],
    second_config: dict[str, Any],
) -> None:
    """The whole cycle on a real S3 server (SeaweedFS): ingest, fixity, backup, restore."""
    import uuid

    from repository.extensions import db
    from repository.models import Image

    prefix = f"backup-{uuid.uuid4().hex[:8]}"
    for name, value in s3_service.environ().items():
        monkeypatch.setenv(name, value)
    cache = tmp_path / "s3-cache"
    app = create_app(
        {
            **app_config,
            "STORAGE_URL": f"s3://{s3_service.bucket}/{prefix}/a",
            "S3_CACHE_DIR": str(cache),
        }
    )
    with app.app_context():
        db.create_all()
    runner = app.test_cli_runner()
    ingested = runner.invoke(args=["ingest", str(make_pages(count=2)), "--collection", "c"])
    assert ingested.exit_code == 0, ingested.output
    for leftover in cache.rglob("*"):  # start with nothing cached
        if leftover.is_file():
            leftover.unlink()
    checked = runner.invoke(args=["fixity"])
    assert checked.exit_code == 0, checked.output
    assert not [p for p in cache.rglob("*") if p.is_file()]  # streamed, not through the cache
    with app.app_context():
        master = db.session.execute(db.select(Image.master_key)).scalars().first()
    client = admin_client(s3_service)
    name = f"{prefix}/a/{master}"
    original = client.get_object(s3_service.bucket, name).read()
    damaged = original[:-10] + b"0123456789"
    import io

    client.put_object(s3_service.bucket, name, io.BytesIO(damaged), len(damaged))
    found = runner.invoke(args=["fixity"])
    assert found.exit_code == 1 and f"checksum mismatch: {master}" in found.output
    client.put_object(s3_service.bucket, name, io.BytesIO(original), len(original))

    backed = runner.invoke(args=["backup", str(tmp_path / "backup")])
    assert backed.exit_code == 0, backed.output
    bag = bagit.Bag(str(tmp_path / "backup"))
    assert bag.is_valid()
    restored_app = create_app(
        {**second_config, "STORAGE_URL": f"s3://{s3_service.bucket}/{prefix}/b"}
    )
    restored = restored_app.test_cli_runner().invoke(args=["restore", str(tmp_path / "backup")])
    assert restored.exit_code == 0, restored.output
    import hashlib

    objects = {
        path.removeprefix("data/objects/"): digest["sha256"]
        for path, digest in bag.payload_entries().items()
        if path.startswith("data/objects/")
    }
    assert master in objects
    for key, digest in objects.items():
        body = client.get_object(s3_service.bucket, f"{prefix}/b/{key}").read()
        assert hashlib.sha256(body).hexdigest() == digest, key
    assert restored_app.test_cli_runner().invoke(args=["fixity"]).exit_code == 0
