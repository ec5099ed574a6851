"""Give freed image memory back to the system.

libvips allocates and frees large buffers (regions, JPEG output) on many threads. glibc
serves a buffer over its mmap threshold from mmap, and gives it back whole when freed,
but its threshold is dynamic: after the first such buffer is freed it rises to that
size (up to 32 MB), and from then on the big buffers come from the heaps, where the
holes they leave fragment. Under mixed renders the heaps then grew to 3.5 GB of address
space in five minutes and the resident size by about 30 MB a minute (benchmarks/soak).

So the server fixes the threshold (``MALLOC_MMAP_THRESHOLD``, 128 kB: big buffers are
mmapped and returned on free; 0 leaves glibc's default, as does an explicit
``MALLOC_MMAP_THRESHOLD_`` in the environment), and asks glibc to trim its heaps every
so many renders, at a cost of about a millisecond each time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
from collections.abc import Callable
from typing import Any

TRIM_EVERY = 64  # renders
MMAP_THRESHOLD = 128 * 1024  # bytes
M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h


def _glibc(function: str) -> Any:
    """A function of the C library, when it is glibc's; None elsewhere (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return getattr(ctypes.CDLL(name), function)
    except (OSError, AttributeError):
        return None


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Serve buffers of ``threshold`` bytes and more from mmap from now on, with glibc's
    dynamic threshold off. True when it was set; the environment's setting wins."""
    if threshold <= 0 or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    mallopt = _glibc("mallopt")
    return mallopt is not None and bool(mallopt(M_MMAP_THRESHOLD, int(threshold)))


class Trimmer:
    """Counts renders; every ``every``-th one, trims the C heap."""

    def __init__(self, every: int = TRIM_EVERY) -> None:
        self.every = max(1, every)
        self._count = 0
        self._lock = threading.Lock()
        self._trim: Callable[[int], int] | None = _glibc("malloc_trim")

    def rendered(self) -> bool:
        """Record one render; True when it was time to trim (and trimming was possible)."""
        with self._lock:
            self._count += 1
            due = self._count % self.every == 0
        if due and self._trim is not None:
            self._trim(0)
            return True
        return False


def freeze_startup_objects() -> int:
    """Leave what start-up built (modules, the app, its settings) out of every later
    garbage collection, and return how many objects that was.

    A full collection walks every tracked object. In the repository at 200,000 items that
    was about 170,000 objects, and the requests that triggered one paused 110 to 170 ms
    (the p95 of the home page, search and OAI lists under load). Frozen, they are never
    walked again, and pages stay shared with the master after gunicorn forks (preload).
    Objects made later, in requests, are collected as before.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
