"""Hostile TIFF headers: offsets and counts a crafted file makes up are layout errors, never
an OverflowError (a 500 on a curator's upload) nor a buffer of the size the file claims."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest

from image_server.tiff import TiffLayoutError, read_pages

pytestmark = pytest.mark.pure


def classic(entries: list[tuple[int, int, int, int]], first_ifd: int = 8) -> bytes:
    """A little-endian TIFF with one directory of (tag, type, count, value) entries."""
    body = struct.pack("<2sHI", b"II", 42, first_ifd)
    body += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack("<HHII", tag, kind, count, value)
    return body + struct.pack("<I", 0)


def big(first_ifd: int) -> bytes:
    """A BigTIFF header whose first directory is wherever the caller says."""
    return struct.pack("<2sHHHQ", b"II", 43, 8, 0, first_ifd)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(big(2**63 + 5), id="bigtiff-offset-past-int64"),
        pytest.param(big(2**40), id="bigtiff-offset-past-the-end"),
        pytest.param(classic([(273, 4, 16_000_000, 64)]), id="sixty-megabyte-field"),
        pytest.param(classic([(273, 16, 2**28, 64)]), id="field-past-the-limit"),
        pytest.param(classic([(256, 4, 1, 100)], first_ifd=2**31), id="ifd-past-the-end"),
    ],
)
def test_made_up_offsets_and_counts_are_layout_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "hostile.tif"
    path.write_bytes(content)
    tracemalloc.start()
    try:
        with open(path, "rb") as handle, pytest.raises(TiffLayoutError):
            read_pages(handle.fileno())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # nothing the size the header claimed was allocated
