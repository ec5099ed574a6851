"""Caches for rendered images: a bounded in-memory LRU and an optional disk cache.

Both are keyed by the canonical request plus the derivative's fingerprint, so two
spellings of one request share an entry and a re-ingested image never serves stale
pixels.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path


class MemoryCache:
    """A thread-safe LRU of byte strings, capped by their total size."""

    def __init__(self, max_bytes: int, max_item_bytes: int = 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.max_item_bytes = max_item_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> bytes | None:
        with self._lock:
            body = self._entries.get(key)
            if body is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: str, body: bytes) -> None:
        if len(body) > self.max_item_bytes or len(body) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._entries[key] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted)


class DiskCache:
    """Rendered derivatives on disk: written atomically, pruned oldest-first past a cap."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        self._written_since_prune = 0
        self._lock = threading.Lock()

    def path_for(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / digest[:2] / digest

    def get(self, key: str) -> bytes | None:
        path = self.path_for(key)
        try:
            body = path.read_bytes()
        except OSError:
            return None
        try:
            os.utime(path)  # mark as recently used for pruning
        except OSError:
            pass
        return body

    def put(self, key: str, body: bytes) -> None:
        path = self.path_for(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
            os.replace(tmp, path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            return  # a cache that cannot write just stays cold
        with self._lock:
            self._written_since_prune += len(body)
            due = self._written_since_prune > self.max_bytes // 10
            if due:
                self._written_since_prune = 0
        if due:
            self.prune()

    def prune(self) -> None:
        """Remove least recently used entries until the cache is under 90% of its cap."""
        entries = []
        for path in self.root.glob("*/*"):
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(entries):
            path.unlink(missing_ok=True)
            total -= size
            if total <= self.max_bytes * 0.9:
                break
