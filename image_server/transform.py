"""Execute a Plan with pyvips: the only pyvips code on the request path."""

from __future__ import annotations

from typing import Any

import pyvips

from .plan import Plan

MEDIA_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tif": "image/tiff",
    "gif": "image/gif",
}


def _exact_size(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """Resize rounding can miss by a pixel; trim or extend the edge to hit the plan."""
    if image.width > width or image.height > height:
        image = image.crop(0, 0, min(width, image.width), min(height, image.height))
    if image.width < width or image.height < height:
        image = image.embed(0, 0, width, height, extend="copy")
    return image


def render(plan: Plan, page_image: pyvips.Image) -> pyvips.Image:
    """Crop, scale, mirror, rotate and colour the region the plan asks for."""
    box = plan.page_region
    image = page_image.crop(box.x, box.y, box.w, box.h)
    if (box.w, box.h) != (plan.width, plan.height):
        image = image.resize(plan.width / box.w, vscale=plan.height / box.h, kernel="lanczos3")
        image = _exact_size(image, plan.width, plan.height)
    if plan.rotation.mirror:
        image = image.fliphor()
    degrees = plan.rotation.degrees
    if degrees:
        if degrees % 90 == 0:
            image = image.rot(f"d{int(degrees)}")
        else:
            if plan.format == "png" or plan.format == "webp":
                image = image.bandjoin(255) if not image.hasalpha() else image
                image = image.rotate(degrees, background=[0, 0, 0, 0])
            else:
                image = image.rotate(degrees, background=[255] * image.bands)
    if plan.quality == "gray":
        image = _gray(image)
    elif plan.quality == "bitonal":
        image = (_gray(image) > 127).cast("uchar")
    return image


def _gray(image: pyvips.Image) -> pyvips.Image:
    if image.bands in (1, 2):
        return image
    alpha = image[3] if image.bands == 4 else None
    gray = image[0:3].colourspace("b-w")
    return gray.bandjoin(alpha) if alpha is not None else gray


def encode(image: pyvips.Image, fmt: str, jpeg_quality: int = 85) -> bytes:
    options: dict[str, Any] = {"keep": "none"}
    if fmt == "jpg":
        if image.hasalpha():
            image = image.flatten(background=[255] * (image.bands - 1))
        data = image.jpegsave_buffer(Q=jpeg_quality, optimize_coding=False, **options)
    elif fmt == "png":
        data = image.pngsave_buffer(compression=3, **options)
    elif fmt == "webp":
        data = image.webpsave_buffer(Q=jpeg_quality, **options)
    elif fmt == "tif":
        data = image.tiffsave_buffer(compression="deflate", **options)
    else:
        data = image.gifsave_buffer(**options)
    return bytes(data)
