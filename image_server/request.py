"""Parse and format IIIF Image API URLs: no I/O, no Flask, no pyvips.

Every parse failure raises a subclass of ``IIIFError`` with the offending
parameter named, so that a client mistake can never become a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal
from urllib.parse import quote, unquote

from .errors import BadRequest, NotFound


class Version(StrEnum):
    V2 = "2"
    V3 = "3"


QUALITIES = frozenset({"default", "color", "gray", "bitonal"})
FORMATS = frozenset({"jpg", "png", "webp", "tif", "gif"})

IDENTIFIER = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_INT = re.compile(r"^\d{1,9}$")
_FLOAT = re.compile(r"^(\d{1,9}(\.\d{0,12})?|\.\d{1,12})$")
_MAX_SEGMENT = 64

RegionKind = Literal["full", "square", "pixels", "percent"]
SizeKind = Literal["max", "full", "w", "h", "pct", "wh", "best"]


@dataclass(frozen=True, slots=True)
class Region:
    kind: RegionKind
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0

    def __str__(self) -> str:
        if self.kind in ("full", "square"):
            return self.kind
        numbers = ",".join(format_number(v) for v in (self.x, self.y, self.w, self.h))
        return f"pct:{numbers}" if self.kind == "percent" else numbers


@dataclass(frozen=True, slots=True)
class Size:
    kind: SizeKind
    w: int | None = None
    h: int | None = None
    pct: float | None = None
    upscale: bool = False

    def __str__(self) -> str:
        prefix = "^" if self.upscale else ""
        body: str
        if self.kind in ("max", "full"):
            body = self.kind
        elif self.kind == "pct":
            body = f"pct:{format_number(self.pct or 0)}"
        elif self.kind == "best":
            body = f"!{self.w},{self.h}"
        else:
            body = f"{'' if self.w is None else self.w},{'' if self.h is None else self.h}"
        return prefix + body


@dataclass(frozen=True, slots=True)
class Rotation:
    degrees: float = 0
    mirror: bool = False

    def __str__(self) -> str:
        return ("!" if self.mirror else "") + format_number(self.degrees)


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """One image request, exactly as the client asked for it."""

    version: Version
    identifier: str
    region: Region
    size: Size
    rotation: Rotation
    quality: str
    format: str

    def path(self) -> str:
        """The URL path below the server's /iiif prefix, percent-encoding the identifier."""
        return "/".join(
            (
                self.version.value,
                quote(self.identifier, safe=""),
                str(self.region),
                str(self.size),
                str(self.rotation),
                f"{self.quality}.{self.format}",
            )
        )


@dataclass(frozen=True, slots=True)
class InfoRequest:
    version: Version
    identifier: str


@dataclass(frozen=True, slots=True)
class BaseRequest:
    """The bare image URI, which redirects to info.json."""

    version: Version
    identifier: str


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    version: Version
    identifier: str


Route = ImageRequest | InfoRequest | BaseRequest | ProbeRequest


def format_number(value: float) -> str:
    """Numbers as the spec writes them: no trailing zeros, no exponent."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"


def _number(text: str, parameter: str, *, integer: bool) -> float:
    if not (_INT if integer else _FLOAT).match(text):
        kind = "a non-negative integer" if integer else "a non-negative number"
        raise BadRequest(f"{text!r} is not {kind}", parameter)
    return int(text) if integer else float(text)


def parse_identifier(raw: str) -> str:
    """Decode a percent-encoded identifier and check it is one of ours."""
    identifier = unquote(raw, errors="strict") if "%" in raw else raw
    if not IDENTIFIER.match(identifier):
        raise NotFound("no image has this identifier", "identifier")
    return identifier


def parse_region(text: str) -> Region:
    if text in ("full", "square"):
        return Region(text)  # type: ignore[arg-type]
    percent = text.startswith("pct:")
    parts = (text[4:] if percent else text).split(",")
    if len(parts) != 4:
        raise BadRequest("region must be full, square, x,y,w,h or pct:x,y,w,h", "region")
    x, y, w, h = (_number(p, "region", integer=not percent) for p in parts)
    if w <= 0 or h <= 0:
        raise BadRequest("region width and height must be greater than zero", "region")
    if percent and (x >= 100 or y >= 100):
        raise BadRequest("region lies outside the image", "region")
    return Region("percent" if percent else "pixels", x, y, w, h)


def parse_size(text: str, version: Version) -> Size:
    upscale = text.startswith("^")
    if upscale:
        if version is Version.V2:
            raise BadRequest("'^' upscaling is Image API 3.0 syntax", "size")
        text = text[1:]
    if text == "max":
        return Size("max", upscale=upscale)
    if text == "full":
        if version is Version.V3:
            raise BadRequest("size 'full' is not valid in Image API 3.0; use 'max'", "size")
        return Size("full")
    if text.startswith("pct:"):
        pct = _number(text[4:], "size", integer=False)
        if pct <= 0:
            raise BadRequest("size percentage must be greater than zero", "size")
        if pct > 100 and version is Version.V3 and not upscale:
            raise BadRequest("size above 100% needs the '^' prefix", "size")
        return Size("pct", pct=pct, upscale=upscale)
    confined = text.startswith("!")
    parts = (text[1:] if confined else text).split(",")
    if len(parts) != 2:
        raise BadRequest("size must be max, w,, ,h, pct:n, w,h or !w,h", "size")
    w = int(_number(parts[0], "size", integer=True)) if parts[0] else None
    h = int(_number(parts[1], "size", integer=True)) if parts[1] else None
    if w == 0 or h == 0:
        raise BadRequest("size width and height must be greater than zero", "size")
    if confined or (w is not None and h is not None):
        if w is None or h is None:
            raise BadRequest("size !w,h and w,h need both width and height", "size")
        return Size("best" if confined else "wh", w, h, upscale=upscale)
    if w is not None:
        return Size("w", w=w, upscale=upscale)
    if h is not None:
        return Size("h", h=h, upscale=upscale)
    raise BadRequest("size needs a width or a height", "size")


def parse_rotation(text: str) -> Rotation:
    mirror = text.startswith("!")
    degrees = _number(text[1:] if mirror else text, "rotation", integer=False)
    if degrees > 360:
        raise BadRequest("rotation must be between 0 and 360", "rotation")
    return Rotation(0.0 if degrees == 360 else float(degrees), mirror)


def parse_quality_format(text: str) -> tuple[str, str]:
    quality, dot, fmt = text.rpartition(".")
    if not dot:
        raise BadRequest("the last segment must be quality.format", "format")
    if quality not in QUALITIES:
        raise BadRequest(f"unknown quality {quality!r}", "quality")
    if fmt not in FORMATS:
        # Image API 3.0 §4.5 and 2.1 §4.5: an unsupported format SHOULD be a 400.
        raise BadRequest(
            f"format {fmt!r} is not supported; use jpg, png, webp, tif or gif", "format"
        )
    return quality, fmt


def parse_path(path: str) -> Route:
    """Parse the raw (still percent-encoded) path below /iiif/."""
    segments = path.split("/")
    if len(segments) < 2 or segments[0] not in ("2", "3"):
        raise NotFound("unknown IIIF path; use /iiif/3/<id>/... or /iiif/2/<id>/...")
    version = Version(segments[0])
    if any(len(s) > _MAX_SEGMENT * 4 for s in segments):
        raise BadRequest("a path segment is too long")
    try:
        identifier = parse_identifier(segments[1])
    except UnicodeDecodeError as exc:
        raise NotFound("no image has this identifier", "identifier") from exc
    rest = segments[2:]
    if not rest or rest == [""]:
        return BaseRequest(version, identifier)
    if rest == ["info.json"]:
        return InfoRequest(version, identifier)
    if rest == ["probe"] and version is Version.V3:
        return ProbeRequest(version, identifier)
    if len(rest) > 4:
        # More segments than an image request has: a '/' inside an identifier must be
        # percent-encoded, so the identifier as given names no image.
        raise NotFound("no image has this identifier; encode '/' in identifiers as %2F")
    if len(rest) != 4:
        raise BadRequest("an image URL is /<id>/<region>/<size>/<rotation>/<quality>.<format>")
    region = parse_region(rest[0])
    size = parse_size(rest[1], version)
    rotation = parse_rotation(rest[2])
    quality, fmt = parse_quality_format(rest[3])
    return ImageRequest(version, identifier, region, size, rotation, quality, fmt)
