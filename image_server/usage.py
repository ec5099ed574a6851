"""COUNTER requests seen by the image server, and how they reach the repository's counts.

The contract between the two processes for usage statistics. The image server has no
database: it keeps the item requests it served in memory (``Sender``) and posts them in
batches, signed with the shared access-token key, to the repository's
``/statistics/usage/events``. There the repository's own recorder filters robots and
double clicks and hashes the client into a session, exactly as for its pages; the address
crosses the wire once and is never stored.

What counts (``is_item_request``): the whole image at its full size, that is region
``full`` and size ``max`` (2.1: ``full``), or an explicit size of the full width and height
(or more). Tiles (any other region) and smaller renders of the whole image (thumbnails,
overviews) are not requests of the item, and are never recorded.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import os
import threading
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .tokens import Keys

log = logging.getLogger(__name__)

PATH = "/statistics/usage/events"
HEADER = "X-Tangthu-Usage"  # "<kid>:<hex HMAC-SHA256 of the body>"
MAX_EVENTS = 5_000  # one post's events at most; the receiver refuses more
HELD_BATCHES = 20  # batches kept while the repository does not answer; older ones dropped


@dataclass(frozen=True, slots=True)
class ItemRequest:
    """One full-size render of an item's image, kept in memory only."""

    at: float  # seconds since the epoch, UTC
    item: str
    image: str
    client: str
    agent: str

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ItemRequest:
        at = document["at"]
        if isinstance(at, bool) or not isinstance(at, int | float) or not 0 <= at < 1e11:
            raise ValueError("at must be a time in seconds since 1970")
        fields = {name: document[name] for name in ("item", "image", "client", "agent")}
        if not all(isinstance(value, str) for value in fields.values()):
            raise ValueError("item, image, client and agent must be text")
        return cls(float(at), **fields)


def is_item_request(
    region: str, size: str, width: int, height: int, full_width: int, full_height: int
) -> bool:
    """Whether a render is COUNTER's request of the item: the whole image at full size."""
    if region != "full":
        return False
    return size in ("max", "full") or (width >= full_width and height >= full_height)


def signature(keys: Keys, body: bytes) -> str:
    """The header value that proves a batch comes from a holder of the shared key."""
    kid, secret = keys.secrets[0]
    digest = hmac.new(secret.encode(), b"tangthu-usage\x00" + body, hashlib.sha256).hexdigest()
    return f"{kid}:{digest}"


def verified(keys: Keys, header: str, body: bytes) -> bool:
    """Whether ``header`` signs ``body`` under any of the keys (rotation: all are accepted)."""
    kid, _, digest = header.partition(":")
    for name, secret in keys.secrets:
        if name == kid:
            mac = hmac.new(secret.encode(), b"tangthu-usage\x00" + body, hashlib.sha256)
            return hmac.compare_digest(mac.hexdigest(), digest)
    return False


def encode(requests: Sequence[ItemRequest]) -> bytes:
    return json.dumps({"requests": [asdict(r) for r in requests]}).encode()


def decode(body: bytes) -> list[ItemRequest]:
    """The batch's requests, or ValueError for anything malformed or too long."""
    try:
        document = json.loads(body)
        found = document["requests"]
        if not isinstance(found, list) or len(found) > MAX_EVENTS:
            raise ValueError("requests must be a list of at most MAX_EVENTS")
        return [ItemRequest.from_json(entry) for entry in found]
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed usage batch: {type(exc).__name__}") from None


def post(url: str, keys: Keys, timeout: float = 5.0) -> Callable[[list[ItemRequest]], None]:
    """A writer that posts a batch to the repository; raises if it is not taken."""

    def send(requests: list[ItemRequest]) -> None:
        body = encode(requests)
        sent = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", HEADER: signature(keys, body)},
        )
        with urllib.request.urlopen(sent, timeout=timeout) as response:
            if response.status != 204:
                raise OSError(f"usage batch refused: {response.status}")

    return send


class Sender:
    """Buffers item requests in memory and hands them to ``write`` in batches, off the
    request path: by count (``batch``), by time (``flush_seconds``) and at exit. A batch
    that cannot be written is kept and tried again, up to ``HELD_BATCHES`` of them."""

    def __init__(
        self,
        write: Callable[[list[ItemRequest]], None],
        batch: int = 500,
        flush_seconds: float = 5.0,
    ) -> None:
        self.write = write
        self.batch = min(batch, MAX_EVENTS)
        self.flush_seconds = flush_seconds
        self._held = self.batch * HELD_BATCHES
        self._requests: list[ItemRequest] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid = 0  # the process the flusher runs in (a fork has none)

    def record(self, request: ItemRequest) -> None:
        with self._lock:
            if len(self._requests) >= self._held:
                del self._requests[: self.batch]  # the repository is away: oldest go first
            self._requests.append(request)
            full = len(self._requests) >= self.batch
        if self._pid != os.getpid():
            self._start()
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write what is buffered now, a batch at a time; the number written."""
        written = 0
        while True:
            with self._lock:
                requests = self._requests[: self.batch]
                del self._requests[: self.batch]
            if not requests:
                return written
            try:
                self.write(requests)
            except Exception as exc:  # statistics must never take the server down
                log.warning("usage: %d requests not sent yet: %s", len(requests), exc)
                with self._lock:  # tried again next time; past the bound, the oldest go
                    self._requests[:0] = requests
                    del self._requests[: max(0, len(self._requests) - self._held)]
                return written
            written += len(requests)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        threading.Thread(target=self._run, name="usage-send", daemon=True).start()
        atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()


def sender(public_url: str, keys: Keys | None, flush_seconds: float = 5.0) -> Sender | None:
    """The image server's sender to the repository at ``public_url``; None without keys."""
    if keys is None or not public_url:
        return None
    return Sender(post(public_url.rstrip("/") + PATH, keys), flush_seconds=flush_seconds)
