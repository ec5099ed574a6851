"""Edge tiles, cut and encoded once when the pyramid is written, so they pass through too.

A TIFF stores every tile at full size, so the last column and row of each level are
padded, and the IIIF tile a client asks for there is smaller than the stored one: a
server must decode, crop and encode it on every request (IIPImage does). We do that
once, at ingest, and append the results after the TIFF's own data as a trailer:

    [JPEG][JPEG]...[index: JSON][index length: 8 bytes, little-endian][MAGIC: 8 bytes]

TIFF readers address everything by offset and never see the trailer. The index maps
``"page,x,y"`` (the tile's top-left pixel in that level) to ``[offset, length, w, h]``.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pyvips

MAGIC = b"TTEDGES1"
_TAIL = 16  # index length and magic
MAX_INDEX_BYTES = 16 * 1024 * 1024  # far above any real pyramid's: a bound on a hostile file

EdgeIndex = dict[tuple[int, int, int], tuple[int, int, int, int]]


def edge_boxes(width: int, height: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """The clipped tiles of one level: its last column and last row, when they are partial."""
    columns, rows = -(-width // tile), -(-height // tile)
    for row in range(rows):
        for column in range(columns):
            x, y = column * tile, row * tile
            w, h = min(tile, width - x), min(tile, height - y)
            if w < tile or h < tile:
                yield x, y, w, h


def append_edge_tiles(path: str | Path, tile: int, quality: int) -> int:
    """Cut and encode the edge tiles of every level of the pyramid at ``path`` and append
    them with their index; the number of tiles written."""
    first = pyvips.Image.new_from_file(str(path))
    pages = first.get("n-pages") if first.get_typeof("n-pages") else 1
    index: dict[str, list[int]] = {}
    with open(path, "ab") as out:
        offset = out.tell()
        for page in range(pages):
            level = first if page == 0 else pyvips.Image.new_from_file(str(path), page=page)
            for x, y, w, h in edge_boxes(level.width, level.height, tile):
                data = level.crop(x, y, w, h).jpegsave_buffer(
                    Q=quality, optimize_coding=False, keep="none"
                )
                out.write(data)
                index[f"{page},{x},{y}"] = [offset, len(data), w, h]
                offset += len(data)
        encoded = json.dumps(index, separators=(",", ":")).encode()
        out.write(encoded + struct.pack("<Q", len(encoded)) + MAGIC)
    return len(index)


def read_edge_index(fd: int) -> EdgeIndex:
    """The trailer's index, or an empty one when the file has none (or a damaged one)."""
    size = os.fstat(fd).st_size
    if size < _TAIL:
        return {}
    tail = os.pread(fd, _TAIL, size - _TAIL)
    if len(tail) != _TAIL or tail[8:] != MAGIC:
        return {}
    (length,) = struct.unpack("<Q", tail[:8])
    if length > min(MAX_INDEX_BYTES, size - _TAIL):
        return {}
    try:
        entries = json.loads(os.pread(fd, length, size - _TAIL - length))
        index: EdgeIndex = {}
        for key, (offset, count, w, h) in entries.items():
            page, x, y = (int(part) for part in key.split(","))
            if offset < 0 or count <= 0 or offset + count > size - _TAIL - length:
                return {}
            index[page, x, y] = (int(offset), int(count), int(w), int(h))
    except (ValueError, TypeError, AttributeError):
        return {}
    return index
