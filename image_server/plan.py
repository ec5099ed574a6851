"""Turn an ImageRequest and what we know of the source into a Plan: pure geometry.

Everything a request can get wrong is found here, before any pixel is decoded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .errors import BadRequest
from .request import ImageRequest, Region, Rotation, Size, Version


@dataclass(frozen=True, slots=True)
class Level:
    """One page of the pyramid: its size and its factor against full resolution."""

    width: int
    height: int


@dataclass(frozen=True, slots=True)
class SourceInfo:
    width: int
    height: int
    levels: tuple[Level, ...]
    tile_width: int
    tile_height: int

    def scale_factors(self) -> list[int]:
        return [round(self.width / level.width) for level in self.levels]


@dataclass(frozen=True, slots=True)
class Limits:
    max_width: int
    max_height: int
    max_area: int
    # For a degraded image: the largest scale (output / full resolution) it may be shown at.
    max_scale: float | None = None
    # Lossless encoders hold the whole output and are slow: PNG and TIFF get less area.
    max_lossless_area: int = 16_000_000
    # GIF's encoder quantises the whole image in memory: only tile sizes.
    max_gif_edge: int = 1024


def bounded(limits: Limits, request: ImageRequest, box: Box) -> Limits:
    """The limits that apply to this request's format and rotation, for a region this shape.

    A turn by an angle that is not a right angle makes a larger canvas (up to twice the
    area at 45°), so the size before turning is held to what fits once turned."""
    width, height, area = limits.max_width, limits.max_height, limits.max_area
    if request.format == "gif":
        edge = limits.max_gif_edge
        width, height, area = min(width, edge), min(height, edge), min(area, edge * edge)
    elif request.format in ("png", "tif"):
        area = min(area, limits.max_lossless_area)
    grow_w, grow_h = turned(1.0, box.h / box.w, request.rotation.degrees)
    grow_h *= box.w / box.h
    if grow_w > 1 or grow_h > 1:
        width, height = int(width / grow_w), int(height / grow_h)
        area = int(area / (grow_w * grow_h))
    if (width, height, area) == (limits.max_width, limits.max_height, limits.max_area):
        return limits
    return replace(limits, max_width=width, max_height=height, max_area=area)


def turned(width: float, height: float, degrees: float) -> tuple[float, float]:
    """The size of the canvas that holds width x height turned by this many degrees."""
    if degrees % 90 == 0:
        return (height, width) if degrees % 180 else (width, height)
    angle = math.radians(degrees)
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    return width * c + height * s, width * s + height * c


@dataclass(frozen=True, slots=True)
class Box:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class Plan:
    region: Box  # in full-resolution pixels
    width: int  # output size before rotation
    height: int
    page: int  # the pyramid page to read from
    page_region: Box  # the region in that page's pixels
    rotation: Rotation
    quality: str
    format: str
    canonical: str  # canonical region/size/rotation/quality.format

    @property
    def is_tile(self) -> bool:
        """True for a cheap read: small output from no more than a few stored tiles."""
        return (
            self.rotation.degrees == 0
            and self.page_region.w <= 1024
            and self.page_region.h <= 1024
            and self.width <= 1024
            and self.height <= 1024
        )


def resolve_region(region: Region, width: int, height: int) -> Box:
    if region.kind == "full":
        return Box(0, 0, width, height)
    if region.kind == "square":
        side = min(width, height)
        return Box((width - side) // 2, (height - side) // 2, side, side)
    if region.kind == "percent":
        x = round(region.x * width / 100)
        y = round(region.y * height / 100)
        w = round(region.w * width / 100)
        h = round(region.h * height / 100)
    else:
        x, y, w, h = int(region.x), int(region.y), int(region.w), int(region.h)
    if x >= width or y >= height:
        raise BadRequest("region lies outside the image", "region")
    w, h = min(w, width - x), min(h, height - y)
    if w <= 0 or h <= 0:
        raise BadRequest("region is smaller than one pixel", "region")
    return Box(x, y, w, h)


def _fit_limits(w: float, h: float, limits: Limits) -> tuple[int, int]:
    """Scale (w, h) down, keeping the aspect ratio, until it fits every limit."""
    scale = min(
        1.0, limits.max_width / w, limits.max_height / h, math.sqrt(limits.max_area / (w * h))
    )
    return max(1, math.floor(w * scale)), max(1, math.floor(h * scale))


def resolve_size(size: Size, box: Box, version: Version, limits: Limits) -> tuple[int, int]:
    rw, rh = box.w, box.h
    upscale_allowed = size.upscale or version is Version.V2
    if size.kind in ("max", "full"):
        if size.upscale:
            scale = min(
                limits.max_width / rw,
                limits.max_height / rh,
                math.sqrt(limits.max_area / (rw * rh)),
            )
            return _fit_limits(rw * scale, rh * scale, limits)
        if size.kind == "full" and (
            rw > limits.max_width or rh > limits.max_height or rw * rh > limits.max_area
        ):
            raise BadRequest("size 'full' is larger than this server allows; use 'max'", "size")
        # 'max' of a degraded image is its reduced size; 2.1's 'full' means every pixel.
        scale = min(1.0, limits.max_scale or 1.0) if size.kind == "max" else 1.0
        return _fit_limits(rw * scale, rh * scale, limits)
    if size.kind == "pct":
        pct = size.pct or 0.0
        w, h = round(rw * pct / 100), round(rh * pct / 100)
    elif size.kind == "w":
        w = size.w or 0
        h = round(rh * w / rw)
    elif size.kind == "h":
        h = size.h or 0
        w = round(rw * h / rh)
    elif size.kind == "wh":
        w, h = size.w or 0, size.h or 0
    else:  # best fit inside w,h
        # In 3.0 a fit that would enlarge the region needs '^', as the official
        # validator (size_noup) checks; so it is refused below rather than clamped.
        scale = min((size.w or 0) / rw, (size.h or 0) / rh)
        w, h = round(rw * scale), round(rh * scale)
        # Rounding must never push the confined side over its bound.
        w, h = min(w, size.w or w), min(h, size.h or h)
    if w < 1 or h < 1:
        raise BadRequest("the requested size is smaller than one pixel", "size")
    if not upscale_allowed and (w > rw or h > rh):
        raise BadRequest("size larger than the region needs the '^' prefix", "size")
    if w > limits.max_width or h > limits.max_height or w * h > limits.max_area:
        raise BadRequest(
            f"size {w}x{h} exceeds this server's limits "
            f"(maxWidth {limits.max_width}, maxHeight {limits.max_height}, "
            f"maxArea {limits.max_area})",
            "size",
        )
    return w, h


def choose_page(source: SourceInfo, box: Box, width: int, height: int) -> int:
    """The smallest pyramid page that still has at least the requested resolution."""
    best = 0
    for index, level in enumerate(source.levels):
        scale_x = level.width / source.width
        scale_y = level.height / source.height
        # A one-pixel tolerance lets exact tile requests on rounded levels use them.
        if box.w * scale_x + 1 >= width and box.h * scale_y + 1 >= height:
            best = index
        else:
            break
    return best


def page_box(source: SourceInfo, page: int, box: Box) -> Box:
    level = source.levels[page]
    if page == 0:
        return box
    sx, sy = level.width / source.width, level.height / source.height
    x0, y0 = math.floor(box.x * sx), math.floor(box.y * sy)
    x1 = min(level.width, max(x0 + 1, round((box.x + box.w) * sx)))
    y1 = min(level.height, max(y0 + 1, round((box.y + box.h) * sy)))
    return Box(x0, y0, x1 - x0, y1 - y0)


def canonical(
    request: ImageRequest, source: SourceInfo, box: Box, width: int, height: int, limits: Limits
) -> str:
    """The canonical form of the request (3.0 §4.8, 2.1 §4.7), used for caching and Link."""
    full = box == Box(0, 0, source.width, source.height)
    region = "full" if full else f"{box.x},{box.y},{box.w},{box.h}"
    if request.version is Version.V3:
        if width > box.w or height > box.h:
            upscaled_max = resolve_size(Size("max", upscale=True), box, Version.V3, limits)
            size = "^max" if (width, height) == upscaled_max else f"^{width},{height}"
        else:
            max_size = resolve_size(Size("max"), box, Version.V3, limits)
            size = "max" if (width, height) == max_size else f"{width},{height}"
    elif (width, height) == (box.w, box.h):
        size = "full"
    elif round(width * box.h / box.w) == height or round(height * box.w / box.h) == width:
        size = f"{width},"
    else:
        size = f"{width},{height}"  # a distorting request keeps both
    quality = "default" if request.quality == "color" else request.quality
    return f"{region}/{size}/{request.rotation}/{quality}.{request.format}"


def plan(request: ImageRequest, source: SourceInfo, limits: Limits) -> Plan:
    box = resolve_region(request.region, source.width, source.height)
    whole = limits
    limits = bounded(limits, request, box)
    width, height = resolve_size(request.size, box, request.version, limits)
    out_w, out_h = turned(width, height, request.rotation.degrees)
    if (
        out_w > whole.max_width + 1
        or out_h > whole.max_height + 1
        or (out_w * out_h > whole.max_area * 1.01)
    ):  # a distorting size that only fits before it is turned
        raise BadRequest("the image would be larger than this server allows once turned", "size")
    page = choose_page(source, box, width, height)
    return Plan(
        region=box,
        width=width,
        height=height,
        page=page,
        page_region=page_box(source, page, box),
        rotation=request.rotation,
        quality=request.quality,
        format=request.format,
        canonical=canonical(request, source, box, width, height, limits),
    )
