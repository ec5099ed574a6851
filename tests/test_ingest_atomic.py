"""Atomic ingest: killed, failing or repeated ingests leave no half-written items or objects."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from repository import get_storage
from repository.extensions import db
from repository.models import Image, Item, PendingObject
from repository.services.errors import Refused
from repository.services.ingest import ItemDraft, ingest_item, pages_in_folder
from repository.storage import LocalStorage
from repository.web import ingest_settings

TANGTHU = Path(sys.executable).parent / "tangthu"


def assert_consistent(app: Flask) -> None:
    """Every stored object belongs to a committed row, and every row's objects exist."""
    storage = Path(app.instance_path) / "storage"
    on_disk = {p.relative_to(storage).as_posix() for p in storage.rglob("*") if p.is_file()}
    with app.app_context():
        images = db.session.execute(db.select(Image)).scalars().all()
        referenced = {i.master_key for i in images} | {i.pyramid_key for i in images}
        assert db.session.execute(db.select(PendingObject)).first() is None
    published = {k for k in on_disk if k.startswith(("manifests/", "policies/"))}
    assert on_disk - published == referenced
    assert not list((Path(app.instance_path) / "staging").glob("*-*-*"))


def test_a_killed_ingest_is_cleaned_up_by_the_next_run(
    app: Flask, runner: FlaskCliRunner, make_pages, instance: Path
) -> None:
    folder = make_pages(count=12, width=2400, height=1800)
    env = {
        **os.environ,
        "TANGTHU_INSTANCE_PATH": str(instance),
        "TANGTHU_SECRET_KEY": secrets.token_urlsafe(48),  # the CLI refuses weak ones
    }
    if app.config.get("DATABASE_URL"):  # the PostgreSQL lane: the same database
        env["TANGTHU_DATABASE_URL"] = app.config["DATABASE_URL"]
    args = [str(TANGTHU), "ingest", str(folder), "--collection", "c", "--title", "t"]
    for delay in (0.5, 1.0, 1.6, 2.4):
        process = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        result = runner.invoke(args=["cleanup"])
        assert result.exit_code == 0, result.output
        assert_consistent(app)
        with app.app_context():  # a run that finished before the kill is skipped next time
            db.session.execute(db.delete(Image))
            db.session.execute(db.delete(Item))
            db.session.commit()
        for path in (instance / "storage").rglob("*.*"):
            path.unlink()
    final = runner.invoke(args=["ingest", str(folder), "--collection", "c", "--title", "t"])
    assert final.exit_code == 0, final.output
    assert_consistent(app)


def test_objects_left_by_a_dead_process_are_removed_before_the_next_ingest(
    app: Flask, make_pages, instance: Path
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = instance / "storage" / "pyramids" / "orphan.tif"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half")
    stale_staging = instance / "staging" / f"ingest-{dead.pid}-abc"
    stale_staging.mkdir(parents=True)
    with app.app_context():
        import socket

        db.session.add(
            PendingObject(key="pyramids/orphan.tif", owner=f"{socket.gethostname()}:{dead.pid}")
        )
        db.session.commit()
        draft = ItemDraft("c", {"vi": "t"}, pages_in_folder(make_pages(count=1)))
        from repository.cli.content import ensure_collection

        ensure_collection("c")
        ingest_item(draft, get_storage(), ingest_settings())
    assert not orphan.exists() and not stale_staging.exists()
    assert_consistent(app)


class FailingStorage(LocalStorage):
    """Real local storage whose n-th write fails, as a full disk would."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.writes = 0
        self.fail_at = fail_at

    def put_file(self, key: str, source: Path) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            raise OSError(28, "No space left on device")
        super().put_file(key, source)


@pytest.mark.parametrize("fail_at", [1, 2, 4])
def test_a_storage_failure_part_way_rolls_everything_back(
    app: Flask, make_pages, instance: Path, fail_at: int
) -> None:
    folder = make_pages(count=3)
    with app.app_context():
        from repository.cli.content import ensure_collection

        ensure_collection("c")
        storage = FailingStorage(instance / "storage", fail_at)
        with pytest.raises(OSError):
            ingest_item(
                ItemDraft("c", {"vi": "t"}, pages_in_folder(folder)), storage, ingest_settings()
            )
        assert db.session.execute(db.select(Item)).first() is None
    assert_consistent(app)


def test_rerunning_skips_what_is_already_in(runner: FlaskCliRunner, make_pages, app: Flask) -> None:
    folder = make_pages(count=2)
    args = ["ingest", str(folder), "--collection", "c", "--title", "t"]
    assert "ingested item" in runner.invoke(args=args).output
    again = runner.invoke(args=args)
    assert again.exit_code == 0 and "already ingested, skipped" in again.output
    with app.app_context():
        assert len(db.session.execute(db.select(Item)).all()) == 1


def test_csv_batch_goes_on_past_a_bad_row(
    runner: FlaskCliRunner, make_pages, app: Flask, tmp_path: Path
) -> None:
    make_pages(count=2, name="book-a")
    make_pages(count=1, name="book-b")
    (tmp_path / "book-c").mkdir()
    (tmp_path / "book-c" / "1.jpg").write_text("not an image")
    (tmp_path / "items.csv").write_text(
        "path,title,title_en,creator,subject@vi,date,access,direction\n"
        "book-a,Truyện Kiều,The Tale of Kiều,Nguyễn Du,Thơ|Truyện Nôm,1820,open,right-to-left\n"
        "book-b,Địa bạ,,,,,restricted,\n"
        "book-c,Hỏng,,,,,,\n"
        "../etc,Ngoài,,,,,,\n"
        "book-a,Sai,,,,,secret,\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["ingest", str(tmp_path / "items.csv"), "--collection", "kho"])
    assert result.exit_code == 1
    assert "items.csv line 5: paths must be relative" in result.output
    assert "items.csv line 6: access must be one of" in result.output
    assert (
        "items.csv line 4: nothing was ingested: 1.jpg: is not an accepted image" in result.output
    )
    with app.app_context():
        items = {i.title["vi"]: i for i in db.session.execute(db.select(Item)).scalars()}
        assert set(items) == {"Truyện Kiều", "Địa bạ"}
        kieu = items["Truyện Kiều"]
        assert kieu.viewing_direction == "right-to-left" and kieu.title["en"] == "The Tale of Kiều"
        assert kieu.dc["creator"] == [{"value": "Nguyễn Du", "lang": ""}]
        assert kieu.dc["subject"] == [
            {"value": "Thơ", "lang": "vi"},
            {"value": "Truyện Nôm", "lang": "vi"},
        ]
        assert items["Địa bạ"].access == "restricted"


def test_fixity_finds_changed_and_missing_files(
    runner: FlaskCliRunner, make_pages, app: Flask, instance: Path
) -> None:
    runner.invoke(args=["ingest", str(make_pages(count=2)), "--collection", "c"])
    clean = runner.invoke(args=["fixity"])
    assert clean.exit_code == 0 and "all checksums match" in clean.output
    with app.app_context():
        first, second = db.session.execute(db.select(Image).order_by(Image.position)).scalars()
        changed, missing = first.pyramid_key, second.master_key
    with open(instance / "storage" / changed, "r+b") as stream:
        stream.seek(200)
        stream.write(b"\x00\x01\x02")
    (instance / "storage" / missing).unlink()
    result = runner.invoke(args=["fixity"])
    assert result.exit_code == 1
    assert f"checksum mismatch: {changed}" in result.output
    assert f"missing: {missing}" in result.output


def test_an_ingest_error_names_every_bad_file(app: Flask, make_pages) -> None:
    folder = make_pages(count=2)
    (folder / "3.jpg").write_bytes(b"")
    (folder / "4.png").write_bytes(b"<svg/>")
    with app.app_context():
        from repository.cli.content import ensure_collection

        ensure_collection("c")
        with pytest.raises(Refused) as caught:
            ingest_item(
                ItemDraft("c", {"vi": "t"}, pages_in_folder(folder)),
                get_storage(),
                ingest_settings(),
            )
    assert caught.value.reasons == (
        "3.jpg: is empty",
        "4.png: is not an accepted image: JPEG, PNG, TIFF, WebP, JPEG 2000 or PDF",
    )
