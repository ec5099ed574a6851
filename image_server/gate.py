"""Admission control: no one client may hold more than its share of the slow lane."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import IIIFError


class TooManyRequests(IIIFError):
    status = 429

    def __init__(self, text: str, retry_after: int) -> None:
        super().__init__(text)
        self.retry_after = retry_after


class PerClient:
    """At most ``limit`` large renders at once for each client address, in this process."""

    def __init__(self, limit: int, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}

    @contextmanager
    def slot(self, client: str) -> Iterator[None]:
        with self._lock:
            held = self._busy.get(client, 0)
            if held >= self.limit:
                raise TooManyRequests(
                    "you are already making large images; wait for them", self.retry_after
                )
            self._busy[client] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._busy[client] - 1
                if left:
                    self._busy[client] = left
                else:
                    del self._busy[client]
