"""Request planning: pure geometry, limits, and the pyramid page each request reads."""

from __future__ import annotations

import pytest

from image_server.errors import BadRequest
from image_server.plan import Box, Level, Limits, SourceInfo, plan
from image_server.request import ImageRequest, parse_path

pytestmark = pytest.mark.pure

SOURCE = SourceInfo(
    width=3000,
    height=2000,
    levels=(Level(3000, 2000), Level(1500, 1000), Level(750, 500), Level(375, 250)),
    tile_width=256,
    tile_height=256,
)
ROOMY = Limits(10_000, 10_000, 100_000_000)


def planned(tail: str, version: str = "3", limits: Limits = ROOMY):  # type: ignore[no-untyped-def]
    request = parse_path(f"{version}/img/{tail}")
    assert isinstance(request, ImageRequest)
    return plan(request, SOURCE, limits)


@pytest.mark.parametrize(
    ("tail", "size", "version"),
    [
        ("full/max/0/default.jpg", (3000, 2000), "3"),
        ("full/150,/0/default.jpg", (150, 100), "3"),
        ("full/,150/0/default.jpg", (225, 150), "3"),
        ("full/pct:50/0/default.jpg", (1500, 1000), "3"),
        ("full/225,100/0/default.jpg", (225, 100), "3"),
        ("full/!225,100/0/default.jpg", (150, 100), "3"),
        ("square/max/0/default.jpg", (2000, 2000), "3"),
        ("125,15,120,140/max/0/default.jpg", (120, 140), "3"),
        ("pct:10,10,50,50/max/0/default.jpg", (1500, 1000), "3"),
        ("2990,1990,100,100/max/0/default.jpg", (10, 10), "3"),
        ("full/^4000,/0/default.jpg", (4000, 2667), "3"),
        ("full/^pct:200/0/default.jpg", (6000, 4000), "3"),
        ("full/^!6000,9000/0/default.jpg", (6000, 4000), "3"),
        ("full/!6000,9000/0/default.jpg", (6000, 4000), "2"),
    ],
)
def test_sizes(tail: str, size: tuple[int, int], version: str) -> None:
    result = planned(tail, version)
    assert (result.width, result.height) == size


def test_square_region_is_centred() -> None:
    assert planned("square/max/0/default.jpg").region == Box(500, 0, 2000, 2000)


@pytest.mark.parametrize(
    "tail",
    [
        "3000,0,10,10/max/0/default.jpg",  # starts outside the image
        "0,2000,10,10/max/0/default.jpg",
        "full/3001,/0/default.jpg",  # upscaling without ^
        "full/3000,2001/0/default.jpg",
        "full/pct:0.001/0/default.jpg",  # smaller than a pixel
        "full/^20000,/0/default.jpg",  # over maxWidth
        "full/!6000,9000/0/default.jpg",  # a fit that enlarges needs ^ in 3.0
    ],
)
def test_refusals_are_400(tail: str) -> None:
    with pytest.raises(BadRequest):
        planned(tail)


def test_limits_clamp_max_and_refuse_explicit_sizes() -> None:
    small = Limits(1000, 1000, 1_000_000)
    result = planned("full/max/0/default.jpg", limits=small)
    assert result.width <= 1000 and result.height <= 1000 and result.width * result.height <= 1e6
    with pytest.raises(BadRequest):
        planned("full/1200,/0/default.jpg", limits=small)


@pytest.mark.parametrize(
    ("tail", "page", "page_region"),
    [
        ("0,0,256,256/256,256/0/default.jpg", 0, Box(0, 0, 256, 256)),
        ("0,0,512,512/256,256/0/default.jpg", 1, Box(0, 0, 256, 256)),
        ("1024,1024,1024,976/256,244/0/default.jpg", 2, Box(256, 256, 256, 244)),
        ("2048,0,952,1024/119,128/0/default.jpg", 3, Box(256, 0, 119, 128)),
        ("full/375,250/0/default.jpg", 3, Box(0, 0, 375, 250)),
        ("full/376,/0/default.jpg", 3, Box(0, 0, 375, 250)),
        ("full/400,/0/default.jpg", 2, Box(0, 0, 750, 500)),
    ],
)
def test_the_smallest_sufficient_pyramid_page_is_read(
    tail: str, page: int, page_region: Box
) -> None:
    result = planned(tail)
    assert (result.page, result.page_region) == (page, page_region)


@pytest.mark.parametrize(
    ("tail", "version", "canonical"),
    [
        ("full/max/0/color.jpg", "3", "full/max/0/default.jpg"),
        ("0,0,3000,2000/3000,2000/0/default.jpg", "3", "full/max/0/default.jpg"),
        ("pct:0,0,50,50/!300,300/!90/gray.png", "3", "0,0,1500,1000/300,200/!90/gray.png"),
        ("full/full/0/default.jpg", "2", "full/full/0/default.jpg"),
        ("full/150,/0/default.jpg", "2", "full/150,/0/default.jpg"),
        ("square/,100/0/default.jpg", "2", "500,0,2000,2000/100,/0/default.jpg"),
        ("10,10,100,50/full/0/default.jpg", "2", "10,10,100,50/full/0/default.jpg"),
        ("full/300,300/0/default.jpg", "2", "full/300,300/0/default.jpg"),
        ("full/^max/0/default.jpg", "3", "full/^max/0/default.jpg"),
        ("full/^4000,/0/default.jpg", "3", "full/^4000,2667/0/default.jpg"),
    ],
)
def test_canonical_forms(tail: str, version: str, canonical: str) -> None:
    assert planned(tail, version).canonical == canonical


def _turned(width: int, height: int, degrees: float) -> tuple[float, float]:
    import math

    angle = math.radians(degrees)
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    return width * c + height * s, width * s + height * c


@pytest.mark.parametrize("degrees", [45, 30, 90, 0])
def test_a_turned_image_fits_the_limits_once_turned(degrees: int) -> None:
    limits = Limits(4000, 4000, 6_000_000)
    result = planned(f"full/^max/{degrees}/default.jpg", limits=limits)
    width, height = _turned(result.width, result.height, degrees)
    assert width <= 4001 and height <= 4001 and width * height <= 6_000_000 * 1.001
    with pytest.raises(BadRequest):  # an explicit size that would not fit once turned
        planned("full/2900,/45/default.jpg", limits=limits)


def test_gif_only_at_tile_sizes_and_lossless_formats_within_their_own_area() -> None:
    limits = Limits(10_000, 10_000, 40_000_000, max_lossless_area=2_000_000, max_gif_edge=512)
    gif = planned("full/max/0/default.gif", limits=limits)
    assert max(gif.width, gif.height) <= 512
    with pytest.raises(BadRequest):
        planned("full/1000,/0/default.gif", limits=limits)
    png = planned("full/max/0/default.png", limits=limits)
    assert png.width * png.height <= 2_000_000
    jpg = planned("full/max/0/default.jpg", limits=limits)
    assert (jpg.width, jpg.height) == (3000, 2000)  # JPEG keeps the whole area
    assert planned("full/max/45/default.png", limits=limits).canonical.startswith("full/")
