"""Ingest a generated page, serve it over real HTTP, and check tiles come from the right place."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
import pyvips
from flask import Flask
from flask.testing import FlaskCliRunner

from repository.extensions import db
from repository.models import Image
from tests.helpers import draw_grid_image, tile_colour
from tests.servers import Server


def fetch(url: str) -> tuple[int, Message, bytes]:
    """Status, headers (looked up case-insensitively, as HTTP says) and body."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def served_image(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, instance: Path
) -> Iterator[tuple[str, str]]:
    folder = tmp_path / "scan"
    folder.mkdir()
    draw_grid_image(2600, 1800).pngsave(str(folder / "1.png"))
    assert (
        runner.invoke(
            args=["ingest", str(folder), "--collection", "c", "--title", "t", "--publish"]
        ).exit_code
        == 0
    )
    with app.app_context():
        image_id = db.session.execute(db.select(Image.id)).scalar_one()
    env = {
        "TANGTHU_INSTANCE_PATH": str(instance),
        "TANGTHU_STORAGE_URL": (instance / "storage").as_uri(),
    }
    with Server("image_app", env) as server:
        yield server.url, image_id


def mean_colour(body: bytes) -> list[float]:
    image = pyvips.Image.new_from_buffer(body, "")
    return [image[band].avg() for band in range(3)]


def test_info_json_describes_the_real_pyramid(served_image: tuple[str, str]) -> None:
    base, image_id = served_image
    status, headers, body = fetch(f"{base}/iiif/3/{image_id}/info.json")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    info = json.loads(body)
    assert info["id"] == f"{base}/iiif/3/{image_id}"
    assert (info["width"], info["height"]) == (2600, 1800)
    assert info["tiles"] == [{"width": 256, "height": 256, "scaleFactors": [1, 2, 4, 8, 16]}]
    assert {"width": 1300, "height": 900} in info["sizes"]


@pytest.mark.parametrize(("tx", "ty"), [(0, 0), (3, 2), (9, 6), (5, 0)])
def test_full_resolution_tiles_have_the_right_pixels(
    served_image: tuple[str, str], tx: int, ty: int
) -> None:
    base, image_id = served_image
    x, y = tx * 256, ty * 256
    w, h = min(256, 2600 - x), min(256, 1800 - y)
    status, headers, body = fetch(f"{base}/iiif/3/{image_id}/{x},{y},{w},{h}/{w},/0/default.jpg")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    tile = pyvips.Image.new_from_buffer(body, "")
    assert (tile.width, tile.height) == (w, h)
    for got, want in zip(mean_colour(body), tile_colour(tx, ty), strict=True):
        assert abs(got - want) < 6


def test_a_scaled_tile_reads_the_right_region(served_image: tuple[str, str]) -> None:
    base, image_id = served_image
    # Scale factor 2: the 512-px region at (1024, 512) holds cells (4..5, 2..3).
    status, _, body = fetch(f"{base}/iiif/3/{image_id}/1024,512,256,256/128,/0/default.jpg")
    assert status == 200
    assert all(abs(g - w) < 6 for g, w in zip(mean_colour(body), tile_colour(4, 2), strict=True))


@pytest.mark.parametrize(
    ("tail", "status"),
    [
        ("full/max/0/default.jpg", 200),
        ("bad-region/max/0/default.jpg", 400),
        ("full/0,/0/default.jpg", 400),
        ("full/max/abc/default.jpg", 400),
        ("full/max/0/default.bmp", 400),
        ("full/max/0/default.jp2", 400),
        ("99999,0,10,10/max/0/default.jpg", 400),
    ],
)
def test_status_codes_and_plain_text_reasons(
    served_image: tuple[str, str], tail: str, status: int
) -> None:
    base, image_id = served_image
    got, headers, body = fetch(f"{base}/iiif/3/{image_id}/{tail}")
    assert got == status
    if status != 200:
        assert headers["Content-Type"].startswith("text/plain")
        assert body.strip() and b"Traceback" not in body


def test_unknown_ids_are_404(served_image: tuple[str, str]) -> None:
    base, _ = served_image
    for path in (
        "/iiif/3/nope/info.json",
        "/iiif/3/..%2F..%2Fetc%2Fpasswd/info.json",
        "/iiif/3/nope/full/max/0/default.jpg",
    ):
        status, _, body = fetch(base + path)
        assert status == 404 and b"identifier" in body
