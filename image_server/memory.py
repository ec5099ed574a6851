"""Give freed image memory back to the system.

libvips allocates and frees large buffers on many threads; glibc keeps freed memory in
its arenas, so a server making arbitrary regions grows by tens of MB a minute and never
shrinks (benchmarks/soak). Asking glibc to trim every so many renders keeps the
resident size level at a cost of about a millisecond each time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable

TRIM_EVERY = 64  # renders


def _find_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None
    return trim


class Trimmer:
    """Counts renders; every ``every``-th one, trims the C heap."""

    def __init__(self, every: int = TRIM_EVERY) -> None:
        self.every = max(1, every)
        self._count = 0
        self._lock = threading.Lock()
        self._trim = _find_trim()

    def rendered(self) -> bool:
        """Record one render; True when it was time to trim (and trimming was possible)."""
        with self._lock:
            self._count += 1
            due = self._count % self.every == 0
        if due and self._trim is not None:
            self._trim(0)
            return True
        return False
