"""Find a pyramid by identifier and keep recently used ones open."""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import pyvips

from .edges import EdgeIndex, read_edge_index
from .errors import NotFound
from .objects import LocalReader, Reader
from .plan import SourceInfo
from .pyramids import open_pages, source_info
from .request import IDENTIFIER
from .tiff import TiffLayoutError, TileGrid, read_tile_grids


@dataclass(frozen=True, slots=True)
class Source:
    identifier: str
    path: Path
    info: SourceInfo
    fingerprint: str  # changes whenever the derivative file changes
    modified: float
    last_modified: str  # the HTTP date of ``modified``
    pages: tuple[pyvips.Image, ...]
    # Stored JPEG tiles per page, for passthrough; the file closes when the last
    # request holding this Source lets go of it.
    grids: tuple[TileGrid | None, ...]
    file: io.FileIO
    edges: EdgeIndex  # the clipped edge tiles stored after the TIFF: (page, x, y) -> where


class SourceStore:
    """A bounded LRU of opened pyramids, re-read when the file on disk changes."""

    def __init__(self, reader: Reader, capacity: int) -> None:
        self.reader = reader
        self.capacity = capacity
        self._lock = threading.Lock()
        self._open: OrderedDict[str, Source] = OrderedDict()
        # Local storage: the file's name is made directly (one stat a request, no pathlib).
        self._local_root = str(reader.root) if isinstance(reader, LocalReader) else None

    def path_for(self, identifier: str) -> str:
        """The pyramid's local file; S3 objects come through the read-through cache."""
        # The identifier is checked against a strict pattern, so it can never name a path.
        if not IDENTIFIER.match(identifier):
            raise NotFound("no image has this identifier", "identifier")
        if self._local_root is not None:
            return f"{self._local_root}/pyramids/{identifier}.tif"
        try:
            return str(self.reader.local_path(f"pyramids/{identifier}.tif"))
        except KeyError as exc:
            raise NotFound("no image has this identifier", "identifier") from exc

    def get(self, identifier: str) -> Source:
        path = self.path_for(identifier)
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise NotFound("no image has this identifier", "identifier") from exc
        fingerprint = f"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"
        with self._lock:
            source = self._open.get(identifier)
            if source is not None and source.fingerprint == fingerprint:
                self._open.move_to_end(identifier)
                return source
        source = self._load(identifier, path, fingerprint, stat.st_mtime)
        with self._lock:
            self._open[identifier] = source
            self._open.move_to_end(identifier)
            while len(self._open) > self.capacity:
                self._open.popitem(last=False)
        return source

    @staticmethod
    def _load(identifier: str, name: str, fingerprint: str, modified: float) -> Source:
        path = Path(name)
        try:
            pages = open_pages(path)
            handle = io.FileIO(path, "r")
            grids = read_tile_grids(handle.fileno())
            edges = read_edge_index(handle.fileno())
        except (pyvips.Error, OSError, TiffLayoutError) as exc:
            raise NotFound("this image's derivative cannot be read", "identifier") from exc
        if len(grids) != len(pages):
            grids = (None,) * len(pages)
        info = source_info(pages)
        last_modified = formatdate(modified, usegmt=True)
        return Source(
            identifier,
            path,
            info,
            fingerprint,
            modified,
            last_modified,
            pages,
            grids,
            handle,
            edges,
        )
