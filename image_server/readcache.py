"""Local copies of remote objects, one file per version, evicted least recently used:
what lets the image server read S3 pyramids as local files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .objects import MiB

DEFAULT_CACHE_MAX_BYTES = 10 * 1024 * MiB
_STALE_TEMP_SECONDS = 3600


def default_cache_dir() -> Path:
    """The system's temporary folder (found on first use: finding it writes a probe file)."""
    return Path(tempfile.gettempdir()) / "tangthu-s3-cache"


@dataclass(frozen=True)
class CachedObject:
    """One version of one object on local disk, as a sidecar records it."""

    path: Path
    sidecar: Path
    etag: str
    size: int
    validated_at: float


class ReadThroughCache:
    """Local copies of remote objects, one file per version, evicted least recently used.

    Layout, with h the SHA-256 of the object's endpoint/bucket/name:
    <root>/meta/<h[:2]>/<h>.json is the sidecar {"name", "etag", "size", "file"}, and
    <root>/data/<h[:2]>/<h>.<ETag digest><suffix> holds the bytes of that version.
    A version's file is never rewritten, so a sidecar always names bytes matching its ETag.
    The sidecar's mtime is when the copy was last revalidated; the data file's, when last used.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)

    def _sidecar(self, digest: str) -> Path:
        return self.root / "meta" / digest[:2] / f"{digest}.json"

    def lookup(self, identity: str) -> CachedObject | None:
        """The cached copy of an object, if one is whole on disk."""
        sidecar = self._sidecar(hashlib.sha256(identity.encode()).hexdigest())
        try:
            record = json.loads(sidecar.read_text())
            validated_at = sidecar.stat().st_mtime
            path = self.root / "data" / sidecar.parent.name / str(record["file"])
            if path.stat().st_size != record["size"]:
                return None
        except (OSError, ValueError, KeyError):
            return None
        return CachedObject(path, sidecar, str(record["etag"]), int(record["size"]), validated_at)

    def touch(self, cached: CachedObject, revalidated: bool = False) -> Path | None:
        """Mark a copy just used (and revalidated); None if it was evicted meanwhile."""
        now = time.time_ns()
        try:
            os.utime(cached.path, ns=(now, now))
            if revalidated:
                os.utime(cached.sidecar)
        except FileNotFoundError:
            return None
        return cached.path

    def store(self, identity: str, download: Callable[[BinaryIO], str]) -> Path:
        """Download a new version into the cache atomically, then evict down to the cap."""
        digest = hashlib.sha256(identity.encode()).hexdigest()
        folder = self.root / "data" / digest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                etag = download(out)
            suffix = Path(identity).suffix if len(Path(identity).suffix) <= 8 else ""
            target = folder / f"{digest}.{hashlib.sha256(etag.encode()).hexdigest()[:16]}{suffix}"
            size = os.path.getsize(tmp)
            now = time.time_ns()  # the same clock as touch(), so LRU order is exact
            os.utime(tmp, ns=(now, now))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        previous = self.lookup(identity)
        record = {"name": identity, "etag": etag, "size": size, "file": target.name}
        _write_json(self._sidecar(digest), record)
        if previous and previous.path != target:
            previous.path.unlink(missing_ok=True)
        self.evict(keep=target)
        return target

    def discard(self, identity: str) -> None:
        """Forget an object: its sidecar and its bytes."""
        cached = self.lookup(identity)
        self._sidecar(hashlib.sha256(identity.encode()).hexdigest()).unlink(missing_ok=True)
        if cached:
            cached.path.unlink(missing_ok=True)

    def _copies(self) -> Iterator[tuple[int, int, Path]]:
        """(last used ns, bytes, path) of each cached copy; stale temp files are removed."""
        for path in self.root.glob("data/*/*"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if not path.name.startswith(".tmp-"):
                yield stat.st_mtime_ns, stat.st_size, path
            elif time.time() - stat.st_mtime > _STALE_TEMP_SECONDS:
                path.unlink(missing_ok=True)  # left by a crashed download

    def size(self) -> int:
        """Bytes held in cached copies."""
        return sum(size for _, size, _ in self._copies())

    def evict(self, keep: Path | None = None) -> None:
        """Delete least recently used copies until the cache fits its cap; never `keep`."""
        copies = sorted(self._copies())
        total = sum(size for _, size, _ in copies)
        for _, size, path in copies:
            if total <= self.max_bytes:
                break
            if path != keep:
                sidecar = self._sidecar(path.name.split(".")[0])
                with contextlib.suppress(OSError, ValueError):
                    if json.loads(sidecar.read_text()).get("file") == path.name:
                        sidecar.unlink()
                path.unlink(missing_ok=True)
                total -= size


def _write_json(path: Path, record: dict[str, object]) -> None:
    """Replace a small JSON file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        json.dump(record, out)
    os.replace(tmp, path)
