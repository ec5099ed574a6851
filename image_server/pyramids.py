"""Build the access derivative: an 8-bit sRGB tiled pyramidal TIFF with JPEG tiles."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyvips

from .edges import append_edge_tiles
from .plan import Level, SourceInfo
from .tiff import MasterLayout, master_pages
from .tiff import MasterPage as MasterPage  # ingest reads masters page by page
from .tiff import TiffLayoutError as TiffLayoutError
from .tiff import TooManyPages as TooManyPages


@dataclass(frozen=True, slots=True)
class PyramidSettings:
    tile_size: int = 256
    quality: int = 85


def to_access_image(image: pyvips.Image) -> pyvips.Image:
    """Upright, sRGB, 8-bit, no alpha: what every viewer can show.

    An embedded ICC profile is converted to sRGB; CMYK without one uses libvips'
    default CMYK profile; 16-bit is scaled to 8-bit (not clipped); alpha is flattened
    onto white.
    """
    image = image.autorot()
    if image.get_typeof("icc-profile-data"):
        try:
            image = image.icc_transform("srgb", embedded=True, intent="perceptual")
        except pyvips.Error:
            image = image.copy()
            image.remove("icc-profile-data")  # a broken profile: fall back to plain maths
    elif image.interpretation == "cmyk":
        image = image.icc_transform("srgb", input_profile="cmyk", intent="perceptual")
    if image.format != "uchar" or image.interpretation not in ("srgb", "b-w"):
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.bands < 3:
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def build_pyramid(
    src: str | Path, dst: str | Path, settings: PyramidSettings = PyramidSettings()
) -> tuple[int, int]:
    """Write the pyramid for the image at ``src`` to ``dst``; return its width and height."""
    return write_pyramid(load_master(src), dst, settings)


def load_master(path: str | Path, page: MasterPage | None = None) -> pyvips.Image:
    """Open a master, or one page of a multi-page TIFF, for ``write_pyramid``.

    It is streamed top to bottom, unless its orientation asks for a turn or a flip:
    autorot reads those out of order, so they are opened for random access.
    """
    image = _open_master(path, page, "sequential")
    orientation = image.get("orientation") if image.get_typeof("orientation") else 1
    if orientation in range(2, 9):
        image = _open_master(path, page, "random")
    return image


def _open_master(path: str | Path, page: MasterPage | None, access: str) -> pyvips.Image:
    # fail_on="truncated" turns a damaged or cut-off file into an error, not grey pixels.
    if page is None:
        return pyvips.Image.new_from_file(str(path), access=access, fail_on="truncated")
    # new_from_source keeps the Python source alive for as long as the image needs it.
    source = _only_page(path, page)
    return pyvips.Image.new_from_source(source, "", access=access, fail_on="truncated")


def _only_page(path: str | Path, page: MasterPage) -> pyvips.SourceCustom:
    """The file as libtiff should see it: ``page`` its first and only page.

    libtiff counts every page of a file when it opens one, so opening each of the N
    pages of a file in turn would read N² directories.
    """
    size = os.stat(path).st_size
    position = 0

    def read(length: int) -> bytes:
        nonlocal position
        with open(path, "rb") as stream:  # opened per read: nothing left open when done
            chunk = os.pread(stream.fileno(), length, position)
        end = position + len(chunk)
        if any(at < end and position < at + len(edit) for at, edit in page.only_page):
            patched = bytearray(chunk)
            for at, edit in page.only_page:
                for index, byte in enumerate(edit, start=at - position):
                    if 0 <= index < len(patched):
                        patched[index] = byte
            chunk = bytes(patched)
        position = end
        return chunk

    def seek(offset: int, whence: int) -> int:
        nonlocal position
        position = {os.SEEK_SET: 0, os.SEEK_CUR: position, os.SEEK_END: size}[whence] + offset
        return position

    source = pyvips.SourceCustom()
    source.on_read(read)
    source.on_seek(seek)
    return source


def write_pyramid(
    image: pyvips.Image, dst: str | Path, settings: PyramidSettings = PyramidSettings()
) -> tuple[int, int]:
    """Make ``image`` viewable and write its pyramid; return the derivative's size."""
    access = to_access_image(image)
    save_pyramid(access, dst, settings)
    return access.width, access.height


def save_pyramid(image: pyvips.Image, dst: str | Path, settings: PyramidSettings) -> None:
    image.tiffsave(
        str(dst),
        tile=True,
        tile_width=settings.tile_size,
        tile_height=settings.tile_size,
        pyramid=True,
        compression="jpeg",
        Q=settings.quality,
        bigtiff=image.width * image.height * image.bands > 2**31,
        keep="none",
    )
    # The clipped tiles of the last column and row, ready to serve (see edges.py).
    append_edge_tiles(dst, settings.tile_size, settings.quality)


def open_pages(path: str | Path) -> tuple[pyvips.Image, ...]:
    """Open every level of a pyramid written by ``save_pyramid``, full resolution first."""
    first = pyvips.Image.new_from_file(str(path))
    pages = first.get("n-pages") if first.get_typeof("n-pages") else 1
    rest = (pyvips.Image.new_from_file(str(path), page=page) for page in range(1, pages))
    return (first, *rest)


def source_info(pages: tuple[pyvips.Image, ...]) -> SourceInfo:
    first = pages[0]
    tile_w = first.get("tile-width") if first.get_typeof("tile-width") else first.width
    tile_h = first.get("tile-height") if first.get_typeof("tile-height") else first.height
    levels = tuple(Level(page.width, page.height) for page in pages)
    return SourceInfo(first.width, first.height, levels, int(tile_w), int(tile_h))


def read_source_info(path: str | Path) -> SourceInfo:
    return source_info(open_pages(path))


def master_tiff_pages(path: str | Path, max_pages: int) -> MasterLayout:
    """The pages of a TIFF master that are images of their own, up to ``max_pages``.

    More than that raises TooManyPages: a master is refused, never cut short.
    """
    with open(path, "rb") as stream:
        return master_pages(stream.fileno(), max_pages)
