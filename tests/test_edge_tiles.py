"""Edge tiles are cut once when the pyramid is written and served as stored bytes: the same
pixels as a decode would give, a TIFF that every reader still opens, and a hostile or
damaged trailer that is ignored rather than trusted."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import pyvips
from werkzeug.test import Client

from image_server import create_app
from image_server.edges import MAGIC, edge_boxes, read_edge_index
from image_server.pyramids import PyramidSettings, open_pages, save_pyramid
from tests.helpers import draw_grid_image, open_policy

WIDTH, HEIGHT = 1000, 700  # 1000 = 3*256 + 232, 700 = 2*256 + 188


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("edges")
    (root / "pyramids").mkdir()
    save_pyramid(draw_grid_image(WIDTH, HEIGHT), root / "pyramids" / "p.tif", PyramidSettings())
    open_policy(root, "p")
    return root


def test_every_clipped_tile_of_every_level_is_stored(storage: Path) -> None:
    path = storage / "pyramids" / "p.tif"
    pages = open_pages(path)  # the TIFF itself still opens, every level
    with open(path, "rb") as handle:
        index = read_edge_index(handle.fileno())
    expected = {
        (page, x, y): (w, h)
        for page, level in enumerate(pages)
        for x, y, w, h in edge_boxes(level.width, level.height, 256)
    }
    assert {key: (v[2], v[3]) for key, v in index.items()} == expected
    assert (0, 768, 512) in index and index[0, 768, 512][2:] == (232, 188)


def test_an_edge_tile_is_passed_through_with_the_pixels_a_decode_gives(storage: Path) -> None:
    client = Client(create_app({"STORAGE_URL": storage.as_uri(), "VIPS_LOCKDOWN": False}))
    stored = client.get("/iiif/3/p/768,512,232,188/232,188/0/default.jpg")
    decoded = client.get("/iiif/3/p/768,512,232,188/232,188/0/default.png")  # never stored
    assert stored.status_code == decoded.status_code == 200
    a = pyvips.Image.new_from_buffer(stored.data, "")
    b = pyvips.Image.new_from_buffer(decoded.data, "")
    assert (a.width, a.height) == (b.width, b.height) == (232, 188)
    difference = (a - b).abs()  # JPEG noise only: the same region of the same level
    assert difference.avg() < 1.5 and difference.max() < 40
    with open(storage / "pyramids" / "p.tif", "rb") as handle:
        offset, length, _, _ = read_edge_index(handle.fileno())[0, 768, 512]
        handle.seek(offset)
        assert stored.data == handle.read(length)  # the stored bytes themselves


@pytest.mark.parametrize(
    "trailer",
    [
        pytest.param(lambda n: b"{}" + struct.pack("<Q", 10**12) + MAGIC, id="huge-length"),
        pytest.param(lambda n: b"not json" + struct.pack("<Q", 8) + MAGIC, id="not-json"),
        pytest.param(
            lambda n: (
                (blob := json.dumps({"0,0,0": [0, n * 2, 1, 1]}).encode())
                + struct.pack("<Q", len(blob))
                + MAGIC
            ),
            id="past-the-end",
        ),
        pytest.param(lambda n: b"x" * 4 + MAGIC, id="truncated"),
    ],
)
def test_a_damaged_trailer_is_ignored(tmp_path: Path, trailer) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.tif"
    draw_grid_image(300, 300).tiffsave(str(path), tile=True, compression="jpeg")
    size = path.stat().st_size
    with open(path, "ab") as out:
        out.write(trailer(size))
    with open(path, "rb") as handle:
        assert read_edge_index(handle.fileno()) == {}
