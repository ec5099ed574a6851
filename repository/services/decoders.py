"""Turn one uploaded file into page images, checking every limit before decoding.

The real type comes from the file's first bytes, never its name. JPEG, PNG, TIFF and
WebP are read by libvips (with every other libvips loader blocked). JPEG 2000 is
read by Pillow's bundled OpenJPEG, because the libvips wheel has none. PDF pages are
rendered by pdfium (pypdfium2) at a configured DPI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyvips

from image_server.pyramids import (
    MasterPage,
    TiffLayoutError,
    TooManyPages,
    load_master,
    master_tiff_pages,
)

from .errors import Refused

if TYPE_CHECKING:
    from PIL.ImageFile import ImageFile


class PageRejected(Refused):
    """One file cannot be ingested; the message says why in plain words (ingest gathers
    them, one reason per file, into one refusal of the item)."""


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    max_file_bytes: int
    max_pixels: int
    max_pages: int
    pdf_dpi: int


@dataclass(frozen=True, slots=True)
class Kind:
    media_type: str
    extension: str


JPEG = Kind("image/jpeg", "jpg")
PNG = Kind("image/png", "png")
TIFF = Kind("image/tiff", "tif")
WEBP = Kind("image/webp", "webp")
JP2 = Kind("image/jp2", "jp2")
J2K = Kind("image/j2k", "j2k")
PDF = Kind("application/pdf", "pdf")


@dataclass(frozen=True, slots=True)
class SourcePage:
    """One page of a file, known by its header; ``load`` decodes it when the time comes."""

    number: int | None  # the page within a multi-page file, from 1; None for single images
    width: int
    height: int
    load: Callable[[], pyvips.Image]


@dataclass(frozen=True, slots=True)
class SourceFile:
    """What one file holds, and how many pages its format's own reader counts in it."""

    kind: Kind
    pages: tuple[SourcePage, ...]
    page_count: int  # from libtiff, pdfium or libvips: checks ``pages`` end to end


def sniff(head: bytes) -> Kind | None:
    """The accepted kind from a file's first 16 bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        return JP2
    if head.startswith(b"\xff\x4f\xff\x51"):
        return J2K
    if head.startswith(b"%PDF-"):
        return PDF
    return None


def _check_pixels(width: int, height: int, limits: DecodeLimits, what: str = "") -> None:
    if width <= 0 or height <= 0:
        raise PageRejected(f"{what}has no pixels")
    if width * height > limits.max_pixels:
        raise PageRejected(f"{what}is {width}x{height} pixels; the limit is {limits.max_pixels:,}")


def _vips_header(path: Path) -> pyvips.Image:
    try:
        return pyvips.Image.new_from_file(str(path), access="sequential")
    except pyvips.Error as exc:
        raise PageRejected("is damaged or not a readable image") from exc


def _n_pages(header: pyvips.Image) -> int:
    return int(header.get("n-pages")) if header.get_typeof("n-pages") else 1


def _vips_loader(
    path: Path, page: MasterPage | None, width: int, height: int
) -> Callable[[], pyvips.Image]:
    def load() -> pyvips.Image:
        image = load_master(path, page)
        if (image.width, image.height) != (width, height):
            raise pyvips.Error("the page is not the size its header said")
        return image

    return load


def _vips_pages(path: Path, kind: Kind, limits: DecodeLimits) -> SourceFile:
    if kind is TIFF:
        return _tiff_pages(path, limits)
    header = _vips_header(path)
    frames = _n_pages(header)
    if frames > 1:
        raise PageRejected(
            f"is an animated image of {frames} frames; only still images are accepted"
        )
    width, height = header.width, header.height
    _check_pixels(width, height, limits)
    return SourceFile(
        kind, (SourcePage(None, width, height, _vips_loader(path, None, width, height)),), 1
    )


def _tiff_pages(path: Path, limits: DecodeLimits) -> SourceFile:
    """Every page of a TIFF that is an image of its own; reduced-resolution copies are not."""
    try:
        layout = master_tiff_pages(path, limits.max_pages)
    except TooManyPages:
        raise PageRejected(
            f"has more than {limits.max_pages} pages; the limit is {limits.max_pages}"
        ) from None
    except (TiffLayoutError, OSError) as exc:
        raise PageRejected("is damaged or not a readable image") from exc
    if not layout.pages:
        raise PageRejected("has no pages")
    header = _vips_header(path)  # libtiff's own count of the pages checks ours
    page_count = _n_pages(header) - (layout.directories - len(layout.pages))
    if len(layout.pages) == 1 and layout.pages[0].number == 0:
        first = layout.pages[0]
        _check_pixels(first.width, first.height, limits)
        load = _vips_loader(path, None, first.width, first.height)
        return SourceFile(TIFF, (SourcePage(None, first.width, first.height, load),), page_count)
    pages = []
    for index, page in enumerate(layout.pages, start=1):
        _check_pixels(page.width, page.height, limits, f"page {index} ")
        load = _vips_loader(path, page, page.width, page.height)
        pages.append(SourcePage(index, page.width, page.height, load))
    return SourceFile(TIFF, tuple(pages), page_count)


def _pil_to_vips(picture: object) -> pyvips.Image:
    from PIL import Image as PILImage

    assert isinstance(picture, PILImage.Image)
    if picture.mode not in ("RGB", "L", "RGBA", "LA"):
        picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
    bands = len(picture.getbands())
    image = pyvips.Image.new_from_memory(
        picture.tobytes(), picture.width, picture.height, bands, "uchar"
    )
    image = image.copy(interpretation="b-w" if bands <= 2 else "srgb")
    profile = picture.info.get("icc_profile")
    if profile:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    return image


def _open_jpeg2000(path: Path) -> ImageFile:
    """The file with its header read, not decoded.

    Opened with Pillow's JPEG 2000 reader itself rather than Image.open, whose
    process-wide pixel limit (MAX_IMAGE_PIXELS) is not ours and must never be lifted
    for the whole process: our own limit is checked against the header before load()."""
    from PIL.Jpeg2KImagePlugin import Jpeg2KImageFile

    return Jpeg2KImageFile(str(path))


def _jpeg2000_pages(path: Path, kind: Kind, limits: DecodeLimits) -> SourceFile:
    try:
        with _open_jpeg2000(path) as picture:  # reads the header only
            width, height = picture.size
    except (OSError, SyntaxError, ValueError) as exc:
        raise PageRejected("is damaged or not a readable JPEG 2000 image") from exc
    _check_pixels(width, height, limits)

    def load() -> pyvips.Image:
        try:
            with _open_jpeg2000(path) as picture:
                if picture.size != (width, height):  # changed since it was checked
                    raise ValueError(f"is now {picture.width}x{picture.height} pixels")
                picture.load()
                return _pil_to_vips(picture)
        except (OSError, SyntaxError, ValueError) as exc:
            raise pyvips.Error("JPEG 2000 decode failed", str(exc)) from exc

    return SourceFile(kind, (SourcePage(None, width, height, load),), 1)


def _pdf_pages(path: Path, limits: DecodeLimits) -> SourceFile:
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise PageRejected("is a damaged, encrypted or unreadable PDF") from exc
    count = len(document)
    if count == 0:
        raise PageRejected("is a PDF with no pages")
    if count > limits.max_pages:
        raise PageRejected(f"has {count} pages; the limit is {limits.max_pages}")
    scale = limits.pdf_dpi / 72
    pages = []
    for index in range(count):
        points_w, points_h = document.get_page_size(index)
        width, height = round(points_w * scale), round(points_h * scale)
        _check_pixels(width, height, limits, f"page {index + 1} ")
        load = _pdf_loader(path, index, scale, width, height)
        pages.append(SourcePage(index + 1, width, height, load))
    document.close()
    return SourceFile(PDF, tuple(pages), count)


def _pdf_loader(
    path: Path, index: int, scale: float, width: int, height: int
) -> Callable[[], pyvips.Image]:
    def load() -> pyvips.Image:
        import pypdfium2 as pdfium

        document = pdfium.PdfDocument(str(path))
        try:
            bitmap = document[index].render(scale=scale, fill_color=(255, 255, 255, 255))
            image = _pil_to_vips(bitmap.to_pil())
        except pdfium.PdfiumError as exc:
            raise pyvips.Error("PDF render failed", str(exc)) from exc
        finally:
            document.close()
        # pdfium rounds a render's size up: 108 pt at 300 dpi, 450.00000000000006 px,
        # becomes 451. Trim that sliver, so the page is the size it was counted as.
        if 0 <= image.width - width <= 1 and 0 <= image.height - height <= 1:
            image = image.crop(0, 0, width, height)
        return image

    return load


def read_pages(path: Path, limits: DecodeLimits) -> SourceFile:
    """The kind of file and its pages, after every check that needs no decoding."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError as exc:
        raise PageRejected(f"cannot be read ({exc.strerror or exc})") from exc
    if size == 0:
        raise PageRejected("is empty")
    if size > limits.max_file_bytes:
        raise PageRejected(f"is {size:,} bytes; the limit is {limits.max_file_bytes:,}")
    kind = sniff(head)
    if kind is None:
        raise PageRejected("is not an accepted image: JPEG, PNG, TIFF, WebP, JPEG 2000 or PDF")
    if kind in (JP2, J2K):
        return _jpeg2000_pages(path, kind, limits)
    if kind is PDF:
        return _pdf_pages(path, limits)
    return _vips_pages(path, kind, limits)
