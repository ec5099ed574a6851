"""Build the access derivative: an 8-bit sRGB tiled pyramidal TIFF with JPEG tiles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyvips

from .plan import Level, SourceInfo
from .tiff import reduced_resolution_pages


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
    # fail_on="truncated" turns a damaged or cut-off file into an error, not grey pixels.
    loaded = pyvips.Image.new_from_file(str(src), access="sequential", fail_on="truncated")
    return write_pyramid(loaded, dst, settings)


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


def independent_tiff_pages(path: str | Path) -> list[int]:
    """Page numbers of a TIFF that are images of their own, not reduced-resolution copies."""
    with open(path, "rb") as stream:
        reduced = reduced_resolution_pages(stream.fileno())
    return [number for number, is_copy in enumerate(reduced) if not is_copy]
