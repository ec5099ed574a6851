"""Every real-world scan in, nothing hostile in: formats, colour, orientation, limits."""

from __future__ import annotations

import struct
import unicodedata
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pyvips
from flask import Flask
from PIL import Image as PILImage

from repository import create_app
from repository.extensions import db
from repository.models import Image, Item

Writer = Callable[[Path], None]


@pytest.fixture
def app(app_config: dict[str, Any]) -> Flask:
    config = {**app_config, "PDF_DPI": 100, "MAX_PAGES": 5, "MAX_IMAGE_PIXELS": 20_000_000}
    app = create_app(config)
    with app.app_context():
        db.create_all()
    return app


def ingest(app: Flask, folder: Path) -> list[dict[str, Any]]:
    """Ingest a folder through the CLI; the pages' records and derivatives."""
    result = app.test_cli_runner().invoke(
        args=["ingest", str(folder), "--collection", "c", "--title", "t"]
    )
    assert result.exit_code == 0, result.output
    storage = Path(app.instance_path) / "storage"
    with app.app_context():
        images = db.session.execute(db.select(Image).order_by(Image.position)).scalars()
        return [
            {
                "label": i.label,
                "size": (i.width, i.height),
                "media_type": i.media_type,
                "master_page": i.master_page,
                "pyramid": pyvips.Image.new_from_file(str(storage / i.pyramid_key)),
            }
            for i in images
        ]


def colour_at_centre(image: pyvips.Image) -> list[float]:
    return image(image.width // 2, image.height // 2)


def flat(colour: list[int], width: int = 300, height: int = 200) -> pyvips.Image:
    image = pyvips.Image.black(width, height, bands=len(colour)) + colour
    return image.cast("uchar").copy(interpretation="srgb" if len(colour) >= 3 else "b-w")


def one_file(tmp_path: Path, name: str, write: Writer) -> Path:
    folder = tmp_path / "scan"
    folder.mkdir()
    write(folder / name)
    return folder


RED = [255, 0, 0]


def test_cmyk_jpeg_with_a_profile_becomes_srgb(app: Flask, tmp_path: Path) -> None:
    folder = one_file(tmp_path, "1.jpg", lambda p: flat(RED).icc_transform("cmyk").jpegsave(str(p)))
    [page] = ingest(app, folder)
    r, g, b = colour_at_centre(page["pyramid"])
    assert r > 200 and g < 60 and b < 60
    assert page["pyramid"].bands == 3 and page["media_type"] == "image/jpeg"


def test_cmyk_jpeg_without_a_profile_uses_a_default_cmyk_profile(
    app: Flask, tmp_path: Path
) -> None:
    def write(path: Path) -> None:
        flat(RED).icc_transform("cmyk").jpegsave(str(path), keep="none")

    [page] = ingest(app, one_file(tmp_path, "1.jpg", write))
    r, g, b = colour_at_centre(page["pyramid"])
    assert r > 200 and g < 60 and b < 60


def test_an_embedded_icc_profile_is_converted(app: Flask, tmp_path: Path) -> None:
    # Display-P3 red is stored as about (234, 51, 35); shown as sRGB it must be red again.
    folder = one_file(
        tmp_path, "1.jpg", lambda p: flat(RED).icc_transform("p3").jpegsave(str(p), Q=95)
    )
    [page] = ingest(app, folder)
    r, g, b = colour_at_centre(page["pyramid"])
    assert r > 248 and g < 20 and b < 20


def test_exif_orientation_is_applied(app: Flask, tmp_path: Path) -> None:
    def write(path: Path) -> None:
        image = flat([0, 0, 0], 300, 200).draw_rect([255, 255, 255], 150, 0, 150, 200, fill=True)
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "orientation", 6)  # rotate 90° clockwise
        image.jpegsave(str(path))

    [page] = ingest(app, one_file(tmp_path, "1.jpg", write))
    assert page["size"] == (200, 300)
    pyramid = page["pyramid"]
    assert pyramid(100, 50)[0] < 30 and pyramid(100, 250)[0] > 225  # white half now below


@pytest.mark.parametrize("tiled", [False, True])
def test_16_bit_tiff_is_scaled_not_clipped(app: Flask, tmp_path: Path, tiled: bool) -> None:
    def write(path: Path) -> None:
        image = (pyvips.Image.black(300, 200, bands=3) + [40000, 20000, 10000]).cast("ushort")
        image.copy(interpretation="rgb16").tiffsave(str(path), tile=tiled)

    [page] = ingest(app, one_file(tmp_path, "1.tif", write))
    r, g, b = colour_at_centre(page["pyramid"])
    assert abs(r - 40000 / 257) < 3 and abs(g - 20000 / 257) < 3 and abs(b - 10000 / 257) < 3


def test_a_multi_page_tiff_becomes_one_canvas_per_page(app: Flask, tmp_path: Path) -> None:
    def write(path: Path) -> None:
        pages = [flat(colour, 200, 100) for colour in ([200, 0, 0], [0, 200, 0], [0, 0, 200])]
        stack = pyvips.Image.arrayjoin(pages, across=1).copy()
        stack.set_type(pyvips.GValue.gint_type, "page-height", 100)
        stack.tiffsave(str(path))

    pages = ingest(app, one_file(tmp_path, "so-dia-ba.tif", write))
    assert [p["label"] for p in pages] == ["1", "2", "3"]
    assert [p["master_page"] for p in pages] == [1, 2, 3]
    assert [max(range(3), key=lambda b: colour_at_centre(p["pyramid"])[b]) for p in pages] == [
        0,
        1,
        2,
    ]


def test_grey_png_and_png_with_alpha(app: Flask, tmp_path: Path) -> None:
    folder = tmp_path / "scan"
    folder.mkdir()
    flat([120]).pngsave(str(folder / "1.png"))
    (flat([255, 0, 0, 0])).pngsave(str(folder / "2.png"))  # fully transparent red
    grey, transparent = ingest(app, folder)
    assert grey["pyramid"].bands == 3 and colour_at_centre(grey["pyramid"]) == [120.0] * 3
    assert colour_at_centre(transparent["pyramid"]) == [255.0, 255.0, 255.0]  # onto white


def test_webp(app: Flask, tmp_path: Path) -> None:
    [page] = ingest(app, one_file(tmp_path, "1.webp", lambda p: flat(RED).webpsave(str(p))))
    assert page["media_type"] == "image/webp" and colour_at_centre(page["pyramid"])[0] > 240


def test_jpeg_2000_is_decoded_with_pillow_openjpeg(app: Flask, tmp_path: Path) -> None:
    def write(path: Path) -> None:
        PILImage.new("RGB", (320, 240), (10, 200, 30)).save(path, "JPEG2000")

    [page] = ingest(app, one_file(tmp_path, "1.jp2", write))
    assert page["size"] == (320, 240) and page["media_type"] == "image/jp2"
    r, g, b = colour_at_centre(page["pyramid"])
    assert abs(r - 10) < 6 and abs(g - 200) < 6 and abs(b - 30) < 6


def test_a_jpeg_2000_bomb_header_is_refused_and_pillow_keeps_its_limit(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow's process-wide limit is never lifted, and ours is checked before decoding."""
    from repository.services.decoders import DecodeLimits, PageRejected, read_pages

    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 89_478_485)  # Pillow's own default

    def small(path: Path) -> None:
        PILImage.new("RGB", (32, 32), (10, 200, 30)).save(path, "JPEG2000")

    [page] = ingest(app, one_file(tmp_path, "1.jp2", small))
    assert page["size"] == (32, 32)
    assert PILImage.MAX_IMAGE_PIXELS == 89_478_485
    bomb = tmp_path / "bomb.jp2"
    small(bomb)
    header = bytearray(bomb.read_bytes())
    at = header.index(b"ihdr") + 4
    header[at : at + 8] = struct.pack(">II", 60000, 60000)
    bomb.write_bytes(bytes(header))
    with pytest.raises(PageRejected) as refused:
        read_pages(bomb, DecodeLimits(10**9, 20_000_000, 5, 100))
    assert refused.value.status == 422
    assert "is 60000x60000 pixels; the limit is 20,000,000" in str(refused.value)
    assert PILImage.MAX_IMAGE_PIXELS == 89_478_485


def test_pdf_pages_become_canvases_at_the_configured_dpi(app: Flask, tmp_path: Path) -> None:
    def write(path: Path) -> None:
        pages = [PILImage.new("RGB", (144, 72), colour) for colour in ("red", "green", "blue")]
        pages[0].save(path, "PDF", resolution=72, save_all=True, append_images=pages[1:])

    pages = ingest(app, one_file(tmp_path, "sach.pdf", write))
    assert [p["label"] for p in pages] == ["1", "2", "3"]
    assert all(p["size"] == (200, 100) for p in pages)  # 2 x 1 inches at 100 dpi
    assert colour_at_centre(pages[2]["pyramid"])[2] > 200


def test_vietnamese_names_in_nfc_or_nfd_are_kept_in_natural_order(
    app: Flask, tmp_path: Path
) -> None:
    folder = tmp_path / "scan"
    folder.mkdir()
    for name in ("tờ 10.jpg", "tờ 2.jpg", "tờ 1.jpg"):
        nfd = unicodedata.normalize("NFD", name) if "2" in name else name
        flat(RED).jpegsave(str(folder / nfd))
    assert [p["label"] for p in ingest(app, folder)] == ["tờ 1", "tờ 2", "tờ 10"]


def test_the_extension_is_never_trusted(app: Flask, tmp_path: Path) -> None:
    [page] = ingest(app, one_file(tmp_path, "1.jpg", lambda p: flat(RED).pngsave(str(p))))
    assert page["media_type"] == "image/png"


def png_bomb(path: Path) -> None:
    """A few hundred bytes whose header claims 60000 x 60000 pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1000)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def many_page_pdf(path: Path) -> None:
    pages = [PILImage.new("RGB", (72, 72), "white") for _ in range(6)]
    pages[0].save(path, "PDF", save_all=True, append_images=pages[1:])


@pytest.mark.parametrize(
    ("name", "write", "reason"),
    [
        ("bomb.png", png_bomb, "is 60000x60000 pixels; the limit is 20,000,000"),
        ("dai.pdf", many_page_pdf, "has 6 pages; the limit is 5"),
        (
            "anh.svg",
            lambda p: p.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>'),
            "is not an accepted image",
        ),
        ("run.jpg", lambda p: p.write_text("#!/bin/sh\nrm -rf /\n"), "is not an accepted image"),
        ("page.html", lambda p: p.write_text("<!doctype html><p>hi"), "is not an accepted image"),
        (
            "broken.pdf",
            lambda p: p.write_bytes(b"%PDF-1.7\n garbage"),
            "is a damaged, encrypted or unreadable PDF",
        ),
        (
            "broken.jp2",
            lambda p: p.write_bytes(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\0" * 40),
            "is damaged or not a readable JPEG 2000 image",
        ),
    ],
)
def test_hostile_files_are_refused_with_a_reason(
    app: Flask, tmp_path: Path, name: str, write: Writer, reason: str
) -> None:
    folder = one_file(tmp_path, name, write)
    result = app.test_cli_runner().invoke(
        args=["ingest", str(folder), "--collection", "c", "--title", "t"]
    )
    assert result.exit_code == 1
    assert f"{name}: {reason}" in result.output, result.output
    with app.app_context():
        assert db.session.execute(db.select(Item)).first() is None
    assert not list((Path(app.instance_path) / "storage").rglob("*.tif"))


def test_files_over_the_byte_limit_are_refused(app_config: dict[str, Any], tmp_path: Path) -> None:
    app = create_app({**app_config, "MAX_FILE_BYTES": 1000})
    folder = one_file(
        tmp_path, "1.png", lambda p: flat(RED, 400, 400).pngsave(str(p), compression=0)
    )
    result = app.test_cli_runner().invoke(args=["ingest", str(folder), "--collection", "c"])
    assert result.exit_code == 1 and "bytes; the limit is 1,000" in result.output
