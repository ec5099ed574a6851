"""info.json documents for Image API 3.0 and 2.1, from a pyramid's SourceInfo."""

from __future__ import annotations

from typing import Any

from .plan import Limits, SourceInfo
from .request import Version

CONTEXT_3 = "http://iiif.io/api/image/3/context.json"
CONTEXT_2 = "http://iiif.io/api/image/2/context.json"
PROFILE_3 = "http://iiif.io/api/image/3/level2.json"
PROFILE_2 = "http://iiif.io/api/image/2/level2.json"
EXTRA_FORMATS = ["webp", "gif", "tif"]
EXTRA_QUALITIES = ["color", "gray", "bitonal"]
EXTRA_FEATURES_3 = [
    "canonicalLinkHeader",
    "mirroring",
    "profileLinkHeader",
    "rotationArbitrary",
    "sizeUpscaling",
]
SUPPORTS_2 = [
    "canonicalLinkHeader",
    "mirroring",
    "profileLinkHeader",
    "regionSquare",
    "rotationArbitrary",
    "sizeAboveFull",
]


def _allowed(width: int, source: SourceInfo, limits: Limits) -> bool:
    """A level within the scale a degraded image may be shown at (always, for others)."""
    return limits.max_scale is None or width <= source.width * limits.max_scale + 0.5


def sizes(source: SourceInfo, limits: Limits) -> list[dict[str, int]]:
    """The pyramid's levels that fit the limits, smallest first."""
    fitting = [
        {"width": level.width, "height": level.height}
        for level in source.levels
        if level.width <= limits.max_width
        and level.height <= limits.max_height
        and level.width * level.height <= limits.max_area
        and _allowed(level.width, source, limits)
    ]
    return sorted(fitting, key=lambda s: s["width"])


def tiles(source: SourceInfo, limits: Limits) -> list[dict[str, Any]]:
    factors = [
        factor
        for factor in source.scale_factors()
        if _allowed(source.width // factor, source, limits)
    ]
    return (
        [{"width": source.tile_width, "height": source.tile_height, "scaleFactors": factors}]
        if factors
        else []
    )


def info_json(
    version: Version,
    image_id: str,
    source: SourceInfo,
    limits: Limits,
    services: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``image_id`` is the full base URI of the image service."""
    if version is Version.V3:
        return {
            "@context": CONTEXT_3,
            "id": image_id,
            "type": "ImageService3",
            "protocol": "http://iiif.io/api/image",
            "profile": "level2",
            "width": source.width,
            "height": source.height,
            "maxWidth": limits.max_width,
            "maxHeight": limits.max_height,
            "maxArea": limits.max_area,
            "sizes": sizes(source, limits),
            "tiles": tiles(source, limits),
            "extraFormats": EXTRA_FORMATS,
            "extraQualities": EXTRA_QUALITIES,
            "extraFeatures": EXTRA_FEATURES_3,
            **({"service": services} if services else {}),
        }
    return {
        "@context": CONTEXT_2,
        "@id": image_id,
        "protocol": "http://iiif.io/api/image",
        "width": source.width,
        "height": source.height,
        "sizes": sizes(source, limits),
        "tiles": tiles(source, limits),
        **({"service": services} if services else {}),
        "profile": [
            PROFILE_2,
            {
                "formats": ["jpg", "png", *EXTRA_FORMATS],
                "qualities": ["default", *EXTRA_QUALITIES],
                "supports": SUPPORTS_2,
                "maxWidth": limits.max_width,
                "maxHeight": limits.max_height,
                "maxArea": limits.max_area,
            },
        ],
    }
