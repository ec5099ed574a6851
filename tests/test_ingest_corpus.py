"""A corpus of real-world inputs, made here: each comes in whole, at its size, upright.

Every file is written by the tools that write such files in the wild (libvips, Pillow,
libjpeg, libtiff, OpenJPEG), and each page carries a dark mark in its top-left
quarter on a page that is wider than tall (or the reverse), so that a page turned or
mirrored shows, and a page lost or doubled shows in the count.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pyvips
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from PIL import ExifTags, ImageOps
from PIL import Image as PILImage

from repository.extensions import db
from repository.models import Item
from repository.services.decoders import SourceFile
from repository.services.errors import Refused
from repository.services.ingest import check_page_counts, inspect
from repository.web import ingest_settings
from tests.helpers import csrf_token, sign_in

Writer = Callable[[Path], None]
W, H = 320, 200  # every marked page; wider than tall, so a quarter turn shows


# --- the mark, and how to find it --------------------------------------------------


def marked(width: int = W, height: int = H) -> PILImage.Image:
    """White, with a black top-left quarter."""
    page = PILImage.new("RGB", (width, height), "white")
    page.paste((0, 0, 0), (0, 0, width // 2, height // 2))
    return page


def marked_vips(width: int = W, height: int = H, bands: int = 3, ink: float = 255) -> pyvips.Image:
    page = pyvips.Image.black(width, height, bands=bands) + ink
    return page.draw_rect([0] * bands, 0, 0, width // 2, height // 2, fill=True)


def luminance(image: pyvips.Image, x: float, y: float) -> float:
    pixel = image(int(x * image.width), int(y * image.height))
    return sum(pixel[:3]) / 3


def assert_upright(image: pyvips.Image) -> None:
    """The mark is in the top-left quarter, and in no other."""
    assert luminance(image, 0.25, 0.25) < 70, "the top-left quarter is not dark"
    for x, y in ((0.75, 0.25), (0.25, 0.75), (0.75, 0.75)):
        assert luminance(image, x, y) > 185, f"the quarter at {x},{y} is not light"


# --- writers -----------------------------------------------------------------------

# How a camera stores an upright scene for each EXIF orientation (EXIF 2.32, 4.6.4 A):
# the transpose that, undone by the orientation, gives the scene back.
STORED_AS = {
    1: None,
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_90,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_270,
}


def camera_jpeg(orientation: int) -> Writer:
    """A camera JPEG: big enough that libvips cannot turn it while streaming."""

    def write(path: Path) -> None:
        scene = marked(1200, 800)
        turn = STORED_AS[orientation]
        stored = scene.transpose(turn) if turn is not None else scene
        exif = PILImage.Exif()
        exif[ExifTags.Base.Orientation] = orientation
        stored.save(path, "JPEG", quality=90, exif=exif.tobytes())
        # The file itself is right: Pillow, on its own, shows it upright.
        with PILImage.open(path) as written:
            shown = ImageOps.exif_transpose(written)
            assert shown.size == (1200, 800) and shown.getpixel((10, 10)) < (60, 60, 60)
            assert shown.getpixel((1190, 790)) > (200, 200, 200)

    return write


def multi_page_tiff(count: int, mixed_sizes: bool = False) -> Writer:
    """``count`` tiny grey pages, page n at grey level ``page_grey(n)``."""

    def write(path: Path) -> None:
        if mixed_sizes:  # Pillow: one strip per page, each its own size
            pages = [PILImage.new("L", page_size(n, True), page_grey(n)) for n in range(count)]
            pages[0].save(path, save_all=True, append_images=pages[1:])
            return
        # libvips: a "toilet roll" of equal pages, each written as a page of its own
        pages = [pyvips.Image.black(8, 6) + page_grey(n) for n in range(count)]
        roll = pyvips.Image.arrayjoin(pages, across=1).cast("uchar").copy()
        roll.set_type(pyvips.GValue.gint_type, "page-height", 6)
        roll.tiffsave(str(path))

    return write


def page_size(number: int, mixed: bool) -> tuple[int, int]:
    return (8 + number % 3, 6 + number % 2) if mixed else (8, 6)


def page_grey(number: int) -> int:
    return (number * 7) % 200 + 20


def cmyk_jpeg(path: Path) -> None:
    """Adobe CMYK, no profile: black ink in the top-left quarter."""
    page = pyvips.Image.black(W, H, bands=4).draw_rect(
        [0, 0, 0, 255], 0, 0, W // 2, H // 2, fill=True
    )
    page.cast("uchar").copy(interpretation="cmyk").jpegsave(str(path), keep="none")


def _ycc(red: float, green: float, blue: float) -> list[float]:
    return [
        0.299 * red + 0.587 * green + 0.114 * blue,
        -0.168736 * red - 0.331264 * green + 0.5 * blue + 128,
        0.5 * red - 0.418688 * green - 0.081312 * blue + 128,
    ]


def ycck_jpeg(path: Path) -> None:
    """Adobe YCCK, as Photoshop writes CMYK: inks coded as YCbCr plus K (transform 2).

    libjpeg writes YCCK only when asked, and neither libvips nor Pillow asks, so the
    samples are coded here as libjpeg's cmyk_ycck_convert would code them, written as
    Adobe CMYK, and the Adobe marker then says YCCK: the same bytes, sample for sample.
    """

    def samples(ink: list[int]) -> list[float]:
        # libvips inverts Adobe CMYK as it writes, so give it the inverse of the samples.
        y, cb, cr = _ycc(*ink[:3])
        return [255 - y, 255 - cb, 255 - cr, ink[3]]

    page = pyvips.Image.black(W, H, bands=4) + samples([0, 0, 0, 0])
    page = page.draw_rect(samples([0, 0, 0, 255]), 0, 0, W // 2, H // 2, fill=True)
    page.cast("uchar").copy(interpretation="cmyk").jpegsave(str(path), keep="none")
    data = bytearray(path.read_bytes())
    adobe = data.index(b"\xff\xee")
    assert data[adobe + 4 : adobe + 9] == b"Adobe" and data[adobe + 15] == 0
    data[adobe + 15] = 2  # transform: YCCK
    path.write_bytes(bytes(data))
    with PILImage.open(path) as written:  # libjpeg, through Pillow, reads the inks back
        assert written.mode == "CMYK"
        assert written.getpixel((5, 5))[3] > 250 and written.getpixel((W - 5, H - 5))[3] < 5


def progressive_jpeg(path: Path) -> None:
    marked_vips().cast("uchar").jpegsave(str(path), interlace=True)
    assert b"\xff\xc2" in path.read_bytes()  # SOF2: progressive DCT


def ccitt_g4_tiff(path: Path) -> None:
    marked_vips(bands=1).cast("uchar").tiffsave(str(path), compression="ccittfax4", bitdepth=1)
    with PILImage.open(path) as written:
        assert written.mode == "1" and written.info["compression"] == "group4"


def grey_16_bit_png(path: Path) -> None:
    marked_vips(bands=1, ink=65535).cast("ushort").copy(interpretation="grey16").pngsave(str(path))
    assert pyvips.Image.new_from_file(str(path)).format == "ushort"


def rgb_16_bit_tiff(path: Path) -> None:
    page = marked_vips(ink=65535).cast("ushort").copy(interpretation="rgb16")
    page.tiffsave(str(path), compression="lzw")
    assert pyvips.Image.new_from_file(str(path)).format == "ushort"


def palette_png(path: Path) -> None:
    marked_vips().cast("uchar").pngsave(str(path), palette=True)
    with PILImage.open(path) as written:
        assert written.mode == "P"


def png_with_alpha(path: Path) -> None:
    """Black everywhere, but only the mark is opaque: on white, the mark alone shows."""
    alpha = pyvips.Image.black(W, H).draw_rect(255, 0, 0, W // 2, H // 2, fill=True)
    pyvips.Image.black(W, H, bands=3).bandjoin(alpha).cast("uchar").copy(
        interpretation="srgb"
    ).pngsave(str(path))


def webp(path: Path) -> None:
    marked_vips().cast("uchar").webpsave(str(path), Q=90)


def jpeg_2000(codestream_only: bool) -> Writer:
    def write(path: Path) -> None:  # libvips here has no OpenJPEG: Pillow's writes it
        marked().save(path, "JPEG2000", no_jp2=codestream_only)

    return write


PDF_SIZES = [(144, 72), (72, 144), (216, 144)]  # pixels at 144 dpi: 1 x 0.5 in, ...


def mixed_size_pdf(path: Path) -> None:
    pages = [marked(*size) for size in PDF_SIZES]
    pages[0].save(path, "PDF", resolution=144, save_all=True, append_images=pages[1:])


def plain_jpeg(path: Path) -> None:
    marked().save(path, "JPEG", quality=92)


def plain_tiff(path: Path) -> None:
    marked().save(path, "TIFF", compression="tiff_deflate")


# --- the corpus --------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    name: str
    write: Writer
    media_type: str
    sizes: list[tuple[int, int]]  # every page's size, upright
    marked: bool = True  # whether its pages carry the mark
    greys: list[int] | None = None  # or, for tiny pages, each page's grey level


def tiny_pages(count: int, mixed: bool = False) -> dict[str, Any]:
    return {
        "sizes": [page_size(n, mixed) for n in range(count)],
        "marked": False,
        "greys": [page_grey(n) for n in range(count)],
    }


PDF_DPI = 300
CORPUS = [
    Source("1 trang.tif", plain_tiff, "image/tiff", [(W, H)]),
    Source(
        "65 trang.tif", multi_page_tiff(65, mixed_sizes=True), "image/tiff", **tiny_pages(65, True)
    ),
    Source("300 trang.tif", multi_page_tiff(300), "image/tiff", **tiny_pages(300)),
    Source("2000 trang.tif", multi_page_tiff(2000), "image/tiff", **tiny_pages(2000)),
    *(Source(f"hướng {n}.jpg", camera_jpeg(n), "image/jpeg", [(1200, 800)]) for n in range(1, 9)),
    Source("cmyk.jpg", cmyk_jpeg, "image/jpeg", [(W, H)]),
    Source("ycck.jpg", ycck_jpeg, "image/jpeg", [(W, H)]),
    Source("progressive.jpg", progressive_jpeg, "image/jpeg", [(W, H)]),
    Source("g4.tif", ccitt_g4_tiff, "image/tiff", [(W, H)]),
    Source("xám 16 bit.png", grey_16_bit_png, "image/png", [(W, H)]),
    Source("màu 16 bit.tif", rgb_16_bit_tiff, "image/tiff", [(W, H)]),
    Source("bảng màu.png", palette_png, "image/png", [(W, H)]),
    Source("trong suốt.png", png_with_alpha, "image/png", [(W, H)]),
    Source("trang.webp", webp, "image/webp", [(W, H)]),
    Source("trang.jp2", jpeg_2000(False), "image/jp2", [(W, H)]),
    Source("trang.j2k", jpeg_2000(True), "image/j2k", [(W, H)]),
    Source(
        "nhiều khổ.pdf",
        mixed_size_pdf,
        "application/pdf",
        [(w * PDF_DPI // 144, h * PDF_DPI // 144) for w, h in PDF_SIZES],
    ),
    Source("Trang đầu – Hà Nội.jpg", plain_jpeg, "image/jpeg", [(W, H)]),
    Source("大越史記 𡨸.tif", plain_tiff, "image/tiff", [(W, H)]),
]


def source_page_count(path: Path) -> int:
    """The pages in a file, counted by another reader than the one ingest uses."""
    if path.suffix == ".pdf":  # Pillow writes each page object plainly: count them
        return len(re.findall(rb"/Type\s*/Page\b(?!s)", path.read_bytes()))
    with PILImage.open(path) as opened:
        return getattr(opened, "n_frames", 1)


def ingest(runner: FlaskCliRunner, *sources: Path) -> Any:
    return runner.invoke(args=["ingest", *map(str, sources), "--collection", "c"])


def stored_objects(app: Flask) -> list[Path]:
    root = Path(app.instance_path) / "storage"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("source", CORPUS, ids=[s.name for s in CORPUS])
def test_every_page_of_every_kind_comes_in_at_its_size_and_upright(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, source: Source
) -> None:
    path = tmp_path / source.name
    source.write(path)
    result = ingest(runner, path)
    assert result.exit_code == 0, result.output
    assert f"({len(source.sizes)} pages)" in result.output
    assert source_page_count(path) == len(source.sizes)  # the corpus itself is right
    storage = Path(app.instance_path) / "storage"
    with app.app_context():
        item = db.session.execute(db.select(Item)).scalar_one()
        images = list(item.images)
        assert len(images) == len(source.sizes)
        assert [(i.width, i.height) for i in images] == source.sizes
        assert {i.media_type for i in images} == {source.media_type}
        assert {i.original_name for i in images} == {source.name}
        if len(images) == 1:
            assert images[0].label == path.stem
        else:
            assert [i.master_page for i in images] == list(range(1, len(images) + 1))
        for number, image in enumerate(images):
            pyramid = pyvips.Image.new_from_file(str(storage / image.pyramid_key))
            assert (pyramid.width, pyramid.height) == source.sizes[number]
            if source.marked:
                assert_upright(pyramid)
            if source.greys is not None:
                assert abs(luminance(pyramid, 0.5, 0.5) - source.greys[number]) < 8, number


@pytest.mark.parametrize(
    ("name", "write", "reason"),
    [
        (
            "2001 trang.tif",
            multi_page_tiff(2001),
            "2001 trang.tif: has more than 2000 pages; the limit is 2000",
        ),
        ("cắt ngang.tif", "cut", "cắt ngang.tif: is damaged"),
        (
            "hoạt hình.webp",
            "animated",
            "hoạt hình.webp: is an animated image of 3 frames; only still images are accepted",
        ),
    ],
)
def test_files_that_cannot_come_in_whole_are_refused_and_leave_nothing(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, name: str, write: Any, reason: str
) -> None:
    path = tmp_path / name
    if write == "cut":  # a 3-page scan cut off in its last page
        multi_page_tiff(3, mixed_sizes=True)(path)
        whole = path.read_bytes()
        path.write_bytes(whole[: len(whole) * 2 // 3])
    elif write == "animated":
        frames = [(marked_vips() - 60 * n).cast("uchar") for n in range(3)]
        animation = pyvips.Image.arrayjoin(frames, across=1).copy()
        animation.set_type(pyvips.GValue.gint_type, "page-height", H)
        animation.webpsave(str(path))
    else:
        write(path)
    result = ingest(runner, path)
    assert result.exit_code == 1
    assert reason in result.output, result.output
    assert "Traceback" not in result.output
    with app.app_context():
        assert db.session.execute(db.select(Item)).first() is None
    assert stored_objects(app) == []


def test_a_file_whose_pages_cannot_all_be_found_is_refused_by_name(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a decoder ever lists fewer pages than its file holds, ingest says so and stops."""
    from repository.services import ingest as service

    path = tmp_path / "100 trang.tif"
    multi_page_tiff(100)(path)
    real = service.read_pages

    def cut_short(file: Path, limits: Any) -> SourceFile:
        found = real(file, limits)
        return SourceFile(found.kind, found.pages[:64], found.page_count)

    monkeypatch.setattr(service, "read_pages", cut_short)
    with app.app_context(), pytest.raises(Refused) as refused:
        inspect([service.PageFile(path, path.name)], ingest_settings().limits)
    assert refused.value.reasons == ("100 trang.tif: has 100 pages, but 64 were found in it",)


def test_pages_made_are_counted_against_the_pages_in_each_file(app: Flask, tmp_path: Path) -> None:
    from repository.services import ingest as service

    path = tmp_path / "ba trang.tif"
    multi_page_tiff(3)(path)
    with app.app_context():
        [master] = inspect([service.PageFile(path, path.name)], ingest_settings().limits)
    made = [
        service.PreparedPage(master, n, str(n), 8, 6, tmp_path / f"{n}.tif", "") for n in (1, 2)
    ]
    with pytest.raises(Refused) as refused:
        check_page_counts([master], made)
    assert refused.value.reasons == ("ba trang.tif: has 3 pages, but 2 were made",)
    with pytest.raises(Refused) as refused:
        check_page_counts([master], [*made, made[0]])
    assert refused.value.reasons == ("ba trang.tif: some of its pages were made twice, others not",)
    third = service.PreparedPage(master, 3, "3", 8, 6, tmp_path / "3.tif", "")
    check_page_counts([master], [*made, third])  # each page once: nothing to say


def test_a_batch_names_every_file_it_refused_or_skipped(
    app: Flask, runner: FlaskCliRunner, make_pages: Any, tmp_path: Path
) -> None:
    book = make_pages(count=2, width=300, height=200, name="sách")
    (book / ".DS_Store").write_bytes(b"\0")
    (book / "Thumbs.db").write_bytes(b"\0")
    (book / "phụ lục").mkdir()
    broken = tmp_path / "hỏng"
    broken.mkdir()
    plain_jpeg(broken / "1.jpg")
    (broken / "2.jpg").write_text("<svg/>")
    result = ingest(runner, book, broken, tmp_path / "không có")
    assert result.exit_code == 1
    output = result.output
    assert f"Skipped: {book}: .DS_Store: is a hidden file" in output
    assert f"Skipped: {book}: Thumbs.db: is a system file" in output
    assert f"Skipped: {book}: phụ lục: is a folder" in output
    assert "items ingested: 1, already ingested: 0, refused: 2; files skipped: 3" in output
    refused = output.split("Refused:\n", 1)[1].split("Skipped:\n", 1)[0].splitlines()
    assert refused == [
        f"  {tmp_path / 'không có'}: no such file or folder",
        f"  {broken}: 2.jpg: is not an accepted image: JPEG, PNG, TIFF, WebP, JPEG 2000 or PDF",
    ]
    with app.app_context():
        [item] = db.session.execute(db.select(Item)).scalars()
        assert len(item.images) == 2


def test_the_upload_page_lists_every_refused_file_with_its_reason(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    sign_in(client, "thuthu", "mat-khau-thu-thu")
    plain_jpeg(tmp_path / "good.jpg")
    ingest(runner, tmp_path / "good.jpg")
    with app.app_context():
        item_id = db.session.execute(db.select(Item.id)).scalar_one()
    url = f"/admin/items/{item_id}/pages"
    token = csrf_token(client.get(url).get_data(as_text=True))
    cut = tmp_path / "cut.tif"
    multi_page_tiff(3, mixed_sizes=True)(cut)
    cut.write_bytes(cut.read_bytes()[:300])
    uploads = [("trang 2.jpg", (tmp_path / "good.jpg").read_bytes()), ("hỏng.jpg", b"<svg/>")]
    uploads.append(("đứt.tif", cut.read_bytes()))
    for name, body in uploads:
        reply = client.post(
            url,
            data={"csrf_token": token, "pages": [(io.BytesIO(body), name)]},
            content_type="multipart/form-data",
            headers={"Accept": "application/json"},
        )
        assert reply.status_code == 200
    for _ in range(200):
        state = client.get(f"/admin/items/{item_id}/uploads").get_json()
        if all(t["status"] in ("done", "failed") for t in state["tasks"]):
            break
        time.sleep(0.05)
    assert [r["filename"] for r in state["refused"]] == ["hỏng.jpg", "đứt.tif"]
    assert "is not an accepted image" in state["refused"][0]["message"]
    assert "đứt.tif: is damaged" in state["refused"][1]["message"]
    html = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    listed = html.split('id="refused"', 1)[1].split("</section>", 1)[0]
    assert "hidden" not in listed.split(">", 1)[0]
    assert "<strong>hỏng.jpg</strong>: hỏng.jpg: is not an accepted image" in listed
    assert "<strong>đứt.tif</strong>: đứt.tif: is damaged" in listed
    assert state["pages"] == 2
