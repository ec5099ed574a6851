"""Read a tiled TIFF's layout so a stored JPEG tile can be served without decoding it.

A JPEG-compressed TIFF tile is an abbreviated JPEG stream: its quantisation and
Huffman tables live once in the JPEGTables tag. Tables plus tile make a complete
JPEG, which is what IIPImage 1.3 calls codec passthrough.

It also lists the pages of a multi-page TIFF master at ingest, each with the byte
edits that let libtiff open it as the only page of the file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

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
_MAX_FIELD_BYTES = 64 * 1024 * 1024
# Each level of a pyramid halves the one before: no image needs more levels than this.
MAX_PYRAMID_LEVELS = 64
_MASTER_TAGS = frozenset({TAG_NEW_SUBFILE_TYPE, TAG_WIDTH, TAG_LENGTH})


class TiffLayoutError(Exception):
    pass


class TooManyPages(TiffLayoutError):
    """The file has more pages than the caller's bound: it is refused, never cut short."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} pages")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Directory:
    """One page (IFD) of a TIFF: where it lies, and the tags that were read."""

    offset: int
    next_at: int  # where the pointer to the next page is stored
    tags: dict[int, object]


@dataclass(frozen=True, slots=True)
class MasterPage:
    """A page of a TIFF master that is an image of its own, not a reduced-resolution copy."""

    number: int  # its directory's place in the file, from 0
    width: int
    height: int
    # Byte edits (position, bytes) that make this page the file's first and only page.
    only_page: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True, slots=True)
class MasterLayout:
    pages: tuple[MasterPage, ...]
    directories: int  # every page in the chain, reduced-resolution copies included


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


def _pread(fd: int, length: int, offset: int) -> bytes:
    """Bytes the file really holds: an offset or a length a hostile header made up (past
    the end, or past what a 64-bit offset can say) is a layout error, never a huge buffer
    or an OverflowError."""
    size = os.fstat(fd).st_size
    if offset < 0 or length < 0 or offset > size or length > size - offset:
        raise TiffLayoutError("a TIFF offset or length points past the end of the file")
    return os.pread(fd, length, offset)


def _read_values(
    fd: int, order: str, ftype: int, count: int, inline: bytes, offset_size: int
) -> tuple[int, ...] | bytes:
    code, size = _TYPES.get(ftype, ("B", 1))
    length = size * count
    if length > _MAX_FIELD_BYTES:
        raise TiffLayoutError("implausible TIFF field")
    if length <= offset_size:
        raw = inline[:length]
    else:
        (pointer,) = struct.unpack(order + ("Q" if offset_size == 8 else "I"), inline)
        raw = _pread(fd, length, pointer)
        if len(raw) != length:
            raise TiffLayoutError("a TIFF field runs past the end of the file")
    if ftype in (7, 2):
        return raw
    return struct.unpack(f"{order}{count}{code}", raw)


def _read_ifd(
    fd: int, order: str, offset: int, big: bool, wanted: frozenset[int] | None
) -> Directory:
    """The directory at ``offset``, with the values of the ``wanted`` tags (None: all)."""
    count_fmt, entry_size, offset_size = ("Q", 20, 8) if big else ("H", 12, 4)
    head = _pread(fd, 8 if big else 2, offset)
    if len(head) != (8 if big else 2):
        raise TiffLayoutError("a TIFF directory lies past the end of the file")
    (entries,) = struct.unpack(order + count_fmt, head)
    if entries > _MAX_ENTRIES:
        raise TiffLayoutError("implausible TIFF directory")
    start = offset + len(head)
    block = _pread(fd, entries * entry_size + offset_size, start)
    if len(block) != entries * entry_size + offset_size:
        raise TiffLayoutError("a TIFF directory runs past the end of the file")
    tags: dict[int, object] = {}
    for index in range(entries):
        entry = block[index * entry_size : (index + 1) * entry_size]
        tag, ftype = struct.unpack(order + "HH", entry[:4])
        if wanted is not None and tag not in wanted:
            continue
        (count,) = struct.unpack(order + ("Q" if big else "I"), entry[4 : 4 + offset_size])
        tags[tag] = _read_values(fd, order, ftype, count, entry[4 + offset_size :], offset_size)
    return Directory(offset, start + entries * entry_size, tags)


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


def _header(fd: int) -> tuple[str, bool, int]:
    """The byte order, whether it is a BigTIFF, and where the first page's offset is stored."""
    header = os.pread(fd, 16, 0)
    if header[:2] not in (b"II", b"MM") or len(header) < 8:
        raise TiffLayoutError("not a TIFF file")
    order = "<" if header[:2] == b"II" else ">"
    (magic,) = struct.unpack(order + "H", header[2:4])
    if magic not in (42, 43) or (magic == 43 and len(header) < 16):
        raise TiffLayoutError("not a TIFF file")
    return order, magic == 43, 8 if magic == 43 else 4


def _pointer(fd: int, order: str, big: bool, at: int) -> int:
    raw = _pread(fd, 8 if big else 4, at)
    if len(raw) != (8 if big else 4):
        raise TiffLayoutError("a TIFF page pointer lies past the end of the file")
    (value,) = struct.unpack(order + ("Q" if big else "I"), raw)
    return int(value)


def _directories(fd: int, wanted: frozenset[int] | None) -> Iterator[Directory]:
    """Every page (IFD) in file order, read only as far as the caller goes."""
    order, big, first_at = _header(fd)
    offset = _pointer(fd, order, big, first_at)
    seen: set[int] = set()
    while offset and offset not in seen:
        seen.add(offset)  # a looping IFD chain in a hostile file ends here
        directory = _read_ifd(fd, order, offset, big, wanted)
        yield directory
        offset = _pointer(fd, order, big, directory.next_at)


def read_pages(fd: int, limit: int = MAX_PYRAMID_LEVELS) -> list[dict[int, object]]:
    """The tags of every page (IFD) in the file, in order; TooManyPages past ``limit``."""
    pages = [d.tags for d in islice(_directories(fd, None), limit + 1)]
    if len(pages) > limit:
        raise TooManyPages(limit)
    return pages


def master_pages(fd: int, limit: int) -> MasterLayout:
    """The pages of a TIFF master; TooManyPages when more than ``limit`` are images.

    Reduced-resolution copies are not pages, but they are bounded too, so that a
    hostile chain of them ends early.
    """
    order, big, first_at = _header(fd)
    pointer = order + ("Q" if big else "I")
    pages: list[MasterPage] = []
    count = 0
    for count, directory in enumerate(_directories(fd, _MASTER_TAGS), start=1):
        if count > (limit + 1) * MAX_PYRAMID_LEVELS:
            raise TiffLayoutError("implausibly many reduced-resolution copies")
        if max(0, _first(directory.tags.get(TAG_NEW_SUBFILE_TYPE))) & 1:
            continue
        if len(pages) == limit:
            raise TooManyPages(limit)
        only_page = (
            (first_at, struct.pack(pointer, directory.offset)),
            (directory.next_at, bytes(struct.calcsize(pointer))),
        )
        tags = directory.tags
        width, height = _first(tags.get(TAG_WIDTH)), _first(tags.get(TAG_LENGTH))
        pages.append(MasterPage(count - 1, width, height, only_page))
    return MasterLayout(tuple(pages), count)


def read_tile(fd: int, grid: TileGrid, x: int, y: int) -> bytes:
    """A complete JPEG for the stored tile whose top-left pixel is (x, y)."""
    offset, length = grid.locate(x, y)
    data = os.pread(fd, length, offset)
    if len(data) != length or not data.startswith(b"\xff\xd8"):
        raise TiffLayoutError("a stored tile is truncated or not JPEG")
    return grid.jpeg_prefix + data[2:]
