"""Admission control: expensive renders are bounded so tile traffic keeps flowing."""

from __future__ import annotations

import threading


class Gate:
    """At most ``limit`` expensive renders at once in this process.

    A request waits up to ``wait`` seconds for a slot, which absorbs short bursts
    (and uneven spreading of connections over workers); past that it is refused.
    """

    def __init__(self, limit: int, wait: float = 0.0) -> None:
        self._slots = threading.BoundedSemaphore(max(1, limit))
        self.wait = wait

    def try_enter(self) -> bool:
        if self.wait > 0:
            return self._slots.acquire(timeout=self.wait)
        return self._slots.acquire(blocking=False)

    def leave(self) -> None:
        self._slots.release()
