"""Policy sidecars: what the repository decided about each image, read with no database.

The repository writes `policies/<image id>.json` when it publishes an item. The image
server reads it from storage (locally, or through the S3 read-through cache) and keeps
it in memory for a few seconds, so a tile request costs no network call.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from .objects import LocalReader, Reader


@dataclass(frozen=True, slots=True)
class Policy:
    access: str | None  # the item's level, for information; decisions use the rest
    sha256: str | None  # the derivative's checksum, for ETags shared by every server
    item: str | None = None
    public: str = "hidden"  # what anyone gets: full, degraded, none or hidden
    public_max: int = 0  # for degraded: the longest edge anyone may see
    full_for: frozenset[str] = frozenset({"staff"})  # grants that see everything

    @property
    def is_public(self) -> bool:
        return self.public == "full"


# No sidecar: never published, so the image exists only for staff (a curator's preview).
UNPUBLISHED = Policy(None, None)


class PolicyStore:
    """Sidecars by image id.

    On local storage a sidecar is re-read whenever its file changes (one stat a request),
    so publishing, withdrawing or a change of access takes effect at once. From S3 it is
    re-read at most every ``ttl`` seconds, so tiles cost no network call.
    """

    def __init__(self, reader: Reader, ttl: float) -> None:
        self.reader = reader
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float | int, Policy]] = {}
        self._local = isinstance(reader, LocalReader)

    def _stamp(self, identifier: str) -> int:
        assert isinstance(self.reader, LocalReader)
        try:
            return (self.reader.root / "policies" / f"{identifier}.json").stat().st_mtime_ns
        except OSError:
            return -1  # no sidecar

    def get(self, identifier: str) -> Policy:
        stamp: float | int = self._stamp(identifier) if self._local else time.monotonic()
        with self._lock:
            hit = self._cached.get(identifier)
        if hit and (hit[0] == stamp if self._local else stamp - hit[0] < self.ttl):
            return hit[1]
        policy = self._read(identifier)
        with self._lock:
            if len(self._cached) > 50_000:
                self._cached.clear()
            self._cached[identifier] = (stamp, policy)
        return policy

    def _read(self, identifier: str) -> Policy:
        try:
            path = self.reader.local_path(f"policies/{identifier}.json")
            document = json.loads(path.read_text())
        except (KeyError, OSError, ValueError):
            return UNPUBLISHED
        if not isinstance(document, dict):
            return UNPUBLISHED
        full_for = document.get("full_for", ["staff"])
        try:
            return Policy(
                access=str(document["access"]) if "access" in document else None,
                sha256=str(document["sha256"]) if document.get("sha256") else None,
                item=str(document["item"]) if document.get("item") else None,
                public=str(document.get("public", "hidden")),
                public_max=int(document.get("public_max", 0)),
                full_for=frozenset(str(g) for g in full_for),
            )
        except (TypeError, ValueError):
            return UNPUBLISHED  # a damaged sidecar grants nothing
