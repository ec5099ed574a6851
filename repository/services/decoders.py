"""Turn one uploaded file into page images, checking every limit before decoding.

The real type comes from the file's first bytes, never its name. JPEG, PNG, TIFF and
WebP are read by libvips (with every other libvips loader blocked). JPEG 2000 is
read by Pillow's bundled OpenJPEG, because the libvips wheel has none. PDF pages are
rendered by pdfium (pypdfium2) at a configured DPI.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyvips

from image_server.pyramids import independent_tiff_pages


class PageRejected(Exception):
    """One file cannot be ingested; the message says why in plain words."""


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


def _vips_header(path: Path, page: int | None = None) -> pyvips.Image:
    options = {"page": page} if page is not None else {}
    try:
        return pyvips.Image.new_from_file(str(path), access="sequential", **options)
    except pyvips.Error as exc:
        raise PageRejected("is damaged or not a readable image") from exc


def _vips_loader(path: Path, page: int | None) -> Callable[[], pyvips.Image]:
    options = {"page": page} if page is not None else {}

    def load() -> pyvips.Image:
        # fail_on="truncated" turns a damaged or cut-off file into an error, not grey.
        return pyvips.Image.new_from_file(
            str(path), access="sequential", fail_on="truncated", **options
        )

    return load


def _vips_pages(path: Path, kind: Kind, limits: DecodeLimits) -> list[SourcePage]:
    header = _vips_header(path)
    numbers = independent_tiff_pages(path) if kind is TIFF else [0]
    if len(numbers) > limits.max_pages:
        raise PageRejected(f"has {len(numbers)} pages; the limit is {limits.max_pages}")
    if numbers == [0]:
        _check_pixels(header.width, header.height, limits)
        return [SourcePage(None, header.width, header.height, _vips_loader(path, None))]
    pages = []
    for index, number in enumerate(numbers, start=1):
        page = header if number == 0 else _vips_header(path, number)
        _check_pixels(page.width, page.height, limits, f"page {index} ")
        pages.append(SourcePage(index, page.width, page.height, _vips_loader(path, number)))
    return pages


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


def _jpeg2000_pages(path: Path, limits: DecodeLimits) -> list[SourcePage]:
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as picture:  # reads the header only
            width, height = picture.size
    except (OSError, SyntaxError, ValueError) as exc:
        raise PageRejected("is damaged or not a readable JPEG 2000 image") from exc
    _check_pixels(width, height, limits)

    def load() -> pyvips.Image:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
                PILImage.MAX_IMAGE_PIXELS = None  # our own limit was checked above
                with PILImage.open(path) as picture:
                    picture.load()
                    return _pil_to_vips(picture)
        except (OSError, SyntaxError, ValueError) as exc:
            raise pyvips.Error("JPEG 2000 decode failed", str(exc)) from exc

    return [SourcePage(None, width, height, load)]


def _pdf_pages(path: Path, limits: DecodeLimits) -> list[SourcePage]:
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
        pages.append(SourcePage(index + 1, width, height, _pdf_loader(path, index, scale)))
    document.close()
    return pages


def _pdf_loader(path: Path, index: int, scale: float) -> Callable[[], pyvips.Image]:
    def load() -> pyvips.Image:
        import pypdfium2 as pdfium

        document = pdfium.PdfDocument(str(path))
        try:
            bitmap = document[index].render(scale=scale, fill_color=(255, 255, 255, 255))
            return _pil_to_vips(bitmap.to_pil())
        except pdfium.PdfiumError as exc:
            raise pyvips.Error("PDF render failed", str(exc)) from exc
        finally:
            document.close()

    return load


def read_pages(path: Path, limits: DecodeLimits) -> tuple[Kind, list[SourcePage]]:
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
        return kind, _jpeg2000_pages(path, limits)
    if kind is PDF:
        return kind, _pdf_pages(path, limits)
    return kind, _vips_pages(path, kind, limits)
