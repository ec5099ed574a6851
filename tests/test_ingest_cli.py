"""`tangthu ingest`: real files, real pyvips, real SQLite; refusals leave nothing behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import pyvips
from flask import Flask
from flask.testing import FlaskCliRunner

from repository.extensions import db
from repository.models import Image, Item


def items(app: Flask) -> list[Item]:
    with app.app_context():
        return list(db.session.execute(db.select(Item)).scalars())


def stored_files(instance: Path) -> list[Path]:
    root = instance / "storage"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_ingest_makes_one_item_in_natural_order(
    app: Flask, runner: FlaskCliRunner, make_pages, instance: Path
) -> None:
    folder = make_pages(names=["10.jpg", "2.jpg", "1.jpg"])
    result = runner.invoke(
        args=["ingest", str(folder), "--collection", "mau", "--title", "Truyện Kiều"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        item = db.session.execute(db.select(Item)).scalar_one()
        assert item.title["vi"] == "Truyện Kiều" and item.status == "draft"
        assert [image.label for image in item.images] == ["1", "2", "10"]
        for image in item.images:
            master = instance / "storage" / image.master_key
            pyramid = instance / "storage" / image.pyramid_key
            assert hashlib.sha256(master.read_bytes()).hexdigest() == image.sha256
            assert master.read_bytes() == (folder / image.original_name).read_bytes()
            header = pyvips.Image.new_from_file(str(pyramid))
            assert (header.width, header.height) == (image.width, image.height)
            assert header.get("n-pages") >= 3  # a real pyramid, not a flat copy
            assert header.get("tile-width") == 256


def test_widths_and_heights_are_recorded(app: Flask, runner: FlaskCliRunner, make_pages) -> None:
    folder = make_pages(count=2, width=700, height=500)
    assert (
        runner.invoke(args=["ingest", str(folder), "--collection", "c", "--title", "t"]).exit_code
        == 0
    )
    with app.app_context():
        sizes = [(i.width, i.height) for i in db.session.execute(db.select(Image)).scalars()]
    assert sorted(sizes) == [(700, 500), (701, 500)]


@pytest.mark.parametrize("case", ["missing", "empty", "not-a-folder"])
def test_missing_or_empty_sources_fail_in_one_line(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, case: str
) -> None:
    source = tmp_path / case
    if case == "empty":
        source.mkdir()
    elif case == "not-a-folder":
        source.write_bytes(b"x")
    result = runner.invoke(args=["ingest", str(source), "--collection", "c", "--title", "t"])
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error: ")
    assert items(app) == []


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("3.jpg", b""),  # empty
        ("3.jpg", b"<html><script>alert(1)</script></html>"),  # not an image at all
        ("3.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>'),
        ("3.jpg", None),  # a real JPEG cut in half
    ],
)
def test_one_bad_file_refuses_the_item_and_stores_nothing(
    app: Flask, runner: FlaskCliRunner, make_pages, instance: Path, name: str, body: bytes | None
) -> None:
    folder = make_pages(count=2)
    if body is None:
        whole = (folder / "1.jpg").read_bytes()
        body = whole[: len(whole) // 2]
    (folder / name).write_bytes(body)
    result = runner.invoke(args=["ingest", str(folder), "--collection", "c", "--title", "t"])
    assert result.exit_code != 0
    assert name in result.output
    assert "Traceback" not in result.output
    assert items(app) == []
    assert stored_files(instance) == []


def test_a_file_that_cannot_be_opened_is_refused(
    app: Flask, runner: FlaskCliRunner, make_pages
) -> None:
    folder = make_pages(count=2)
    (folder / "2.jpg").unlink()
    (folder / "2.jpg").symlink_to(folder / "does-not-exist.jpg")
    (folder / "2b.jpg").mkdir()  # folders inside are not pages
    result = runner.invoke(args=["ingest", str(folder), "--collection", "c", "--title", "t"])
    assert result.exit_code != 0
    assert "2.jpg: cannot be read" in result.output
    assert items(app) == []


def test_publish_writes_the_manifest(
    app: Flask, runner: FlaskCliRunner, make_pages, instance: Path
) -> None:
    folder = make_pages(count=2)
    result = runner.invoke(
        args=["ingest", str(folder), "--collection", "c", "--title", "t", "--publish"]
    )
    assert result.exit_code == 0, result.output
    [item] = items(app)
    assert (instance / "storage" / "manifests" / f"{item.id}.json").is_file()
    assert item.status == "published"
