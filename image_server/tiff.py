"""Read a tiled TIFF's layout so a stored JPEG tile can be served without decoding it.

A JPEG-compressed TIFF tile is an abbreviated JPEG stream: its quantisation and
Huffman tables live once in the JPEGTables tag. Tables plus tile make a complete
JPEG, which is what IIPImage 1.3 calls codec passthrough.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

TAG_NEW_SUBFILE_TYPE = 254
TAG_WIDTH = 256
TAG_LENGTH = 257
TAG_COMPRESSION = 259
TAG_PHOTOMETRIC = 262
TAG_TILE_WIDTH = 322
TAG_TILE_LENGTH = 323
TAG_TILE_OFFSETS = 324
TAG_TILE_BYTE_COUNTS = 325
TAG_JPEG_TABLES = 347
COMPRESSION_JPEG = 7
PHOTOMETRIC_YCBCR = 6

# TIFF field type -> (struct code, size)
_TYPES = {1: ("B", 1), 2: ("c", 1), 3: ("H", 2), 4: ("I", 4), 7: ("B", 1), 16: ("Q", 8)}
_MAX_ENTRIES = 512
_MAX_PAGES = 64


class TiffLayoutError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class TileGrid:
    """Where each stored tile of one TIFF page lies in the file."""

    width: int
    height: int
    tile_width: int
    tile_height: int
    offsets: tuple[int, ...]
    byte_counts: tuple[int, ...]
    jpeg_prefix: bytes  # JPEGTables without its EOI marker, ready to prepend

    @property
    def columns(self) -> int:
        return -(-self.width // self.tile_width)

    def is_whole_tile(self, x: int, y: int, w: int, h: int) -> bool:
        """True when (x, y, w, h) is exactly one unpadded stored tile."""
        return (
            w == self.tile_width
            and h == self.tile_height
            and x % self.tile_width == 0
            and y % self.tile_height == 0
            and x + w <= self.width
            and y + h <= self.height
        )

    def locate(self, x: int, y: int) -> tuple[int, int]:
        index = (y // self.tile_height) * self.columns + x // self.tile_width
        return self.offsets[index], self.byte_counts[index]


def _read_values(
    fd: int, order: str, ftype: int, count: int, inline: bytes, offset_size: int
) -> tuple[int, ...] | bytes:
    code, size = _TYPES.get(ftype, ("B", 1))
    length = size * count
    if length <= offset_size:
        raw = inline[:length]
    else:
        (pointer,) = struct.unpack(order + ("Q" if offset_size == 8 else "I"), inline)
        raw = os.pread(fd, length, pointer)
        if len(raw) != length:
            raise TiffLayoutError("a TIFF field runs past the end of the file")
    if ftype in (7, 2):
        return raw
    return struct.unpack(f"{order}{count}{code}", raw)


def _read_ifd(fd: int, order: str, offset: int, big: bool) -> tuple[dict[int, object], int]:
    count_fmt, entry_size, offset_size = ("Q", 20, 8) if big else ("H", 12, 4)
    head = os.pread(fd, 8 if big else 2, offset)
    (entries,) = struct.unpack(order + count_fmt, head)
    if entries > _MAX_ENTRIES:
        raise TiffLayoutError("implausible TIFF directory")
    start = offset + len(head)
    block = os.pread(fd, entries * entry_size + offset_size, start)
    tags: dict[int, object] = {}
    for index in range(entries):
        entry = block[index * entry_size : (index + 1) * entry_size]
        tag, ftype = struct.unpack(order + "HH", entry[:4])
        (count,) = struct.unpack(order + ("Q" if big else "I"), entry[4 : 4 + offset_size])
        tags[tag] = _read_values(fd, order, ftype, count, entry[4 + offset_size :], offset_size)
    (next_ifd,) = struct.unpack(order + ("Q" if big else "I"), block[-offset_size:])
    return tags, next_ifd


def _first(value: object) -> int:
    return int(value[0]) if isinstance(value, tuple) and value else -1


def _grid(tags: dict[int, object]) -> TileGrid | None:
    """The page's tile grid, or None when its tiles cannot pass through as JPEG."""
    tables = tags.get(TAG_JPEG_TABLES)
    offsets, counts = tags.get(TAG_TILE_OFFSETS), tags.get(TAG_TILE_BYTE_COUNTS)
    if (
        _first(tags.get(TAG_COMPRESSION)) != COMPRESSION_JPEG
        or _first(tags.get(TAG_PHOTOMETRIC)) != PHOTOMETRIC_YCBCR
        or not isinstance(tables, bytes)
        or not tables.endswith(b"\xff\xd9")
        or not isinstance(offsets, tuple)
        or not isinstance(counts, tuple)
        or len(offsets) != len(counts)
    ):
        return None
    return TileGrid(
        width=_first(tags.get(TAG_WIDTH)),
        height=_first(tags.get(TAG_LENGTH)),
        tile_width=_first(tags.get(TAG_TILE_WIDTH)),
        tile_height=_first(tags.get(TAG_TILE_LENGTH)),
        offsets=tuple(int(v) for v in offsets),
        byte_counts=tuple(int(v) for v in counts),
        jpeg_prefix=tables[:-2],
    )


def read_tile_grids(fd: int) -> tuple[TileGrid | None, ...]:
    """One entry per TIFF page: its tile grid, or None if it cannot pass through."""
    return tuple(_grid(tags) for tags in read_pages(fd))


def reduced_resolution_pages(fd: int) -> tuple[bool, ...]:
    """One entry per TIFF page: True for a reduced-resolution copy (NewSubfileType bit 0)."""
    kinds = (max(0, _first(tags.get(TAG_NEW_SUBFILE_TYPE))) for tags in read_pages(fd))
    return tuple(bool(kind & 1) for kind in kinds)


def read_pages(fd: int) -> list[dict[int, object]]:
    """The tags of every page (IFD) in the file, in order."""
    header = os.pread(fd, 16, 0)
    if header[:2] not in (b"II", b"MM"):
        raise TiffLayoutError("not a TIFF file")
    order = "<" if header[:2] == b"II" else ">"
    (magic,) = struct.unpack(order + "H", header[2:4])
    big = magic == 43
    if magic not in (42, 43):
        raise TiffLayoutError("not a TIFF file")
    (offset,) = struct.unpack(order + ("Q" if big else "I"), header[8:16] if big else header[4:8])
    pages: list[dict[int, object]] = []
    seen: set[int] = set()
    while offset and len(pages) < _MAX_PAGES and offset not in seen:
        seen.add(offset)  # a looping IFD chain in a hostile file ends here
        tags, offset = _read_ifd(fd, order, offset, big)
        pages.append(tags)
    return pages


def read_tile(fd: int, grid: TileGrid, x: int, y: int) -> bytes:
    """A complete JPEG for the stored tile whose top-left pixel is (x, y)."""
    offset, length = grid.locate(x, y)
    data = os.pread(fd, length, offset)
    if len(data) != length or not data.startswith(b"\xff\xd8"):
        raise TiffLayoutError("a stored tile is truncated or not JPEG")
    return grid.jpeg_prefix + data[2:]
