"""Admission control: expensive renders are bounded so tile traffic keeps flowing."""

from __future__ import annotations

import threading


class Gate:
    """At most ``limit`` expensive renders at once in this process; the rest are refused."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, limit))

    def try_enter(self) -> bool:
        return self._slots.acquire(blocking=False)

    def leave(self) -> None:
        self._slots.release()
