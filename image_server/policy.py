"""The access contract between the two processes: one vocabulary, one sidecar type, one rule.

The repository decides who may see an item and writes the decision, image by image, as a
`Policy` sidecar (`policies/<image id>.json`). The image server reads it with no database
and applies the same `decide` to the credentials a request holds. The repository's own
pages ask `decide` too, so the two can never disagree.

Credentials are what a viewer holds: `staff`, `reader`, `group:<name>`, and `onsite`,
which is only ever taken from the client's address on the request itself, never from a
token or a cookie.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .objects import LocalReader, Reader

T = TypeVar("T")


class Access(StrEnum):
    """What a viewer gets of an image: everything, a reduced image, nothing, or no image."""

    FULL = "full"
    DEGRADED = "degraded"
    NONE = "none"
    HIDDEN = "hidden"


class Credential(StrEnum):
    """The fixed credentials; reader groups add `group:<name>` (see `group_credential`)."""

    STAFF = "staff"
    READER = "reader"
    ONSITE = "onsite"  # from the address of this very request: never portable


GROUP_PREFIX = "group:"


def group_credential(name: str) -> str:
    return f"{GROUP_PREFIX}{name}"


def portable(credentials: Iterable[str]) -> frozenset[str]:
    """What may travel in a token or a cookie: everything but the reading room."""
    return frozenset(c for c in credentials if c != Credential.ONSITE)


STAFF_ONLY = frozenset({Credential.STAFF.value})


@dataclass(frozen=True, slots=True)
class Policy:
    """What the repository decided about one image (or one item)."""

    item: str | None = None
    sha256: str | None = None  # the derivative's checksum, for ETags shared by every server
    level: str | None = None  # the item's access level, for information; decisions use the rest
    public: Access = Access.HIDDEN  # what anyone gets
    public_max: int = 0  # for degraded: the longest edge anyone may see
    full_for: frozenset[str] = STAFF_ONLY  # credentials that see everything
    hidden_until: date | None = None  # an embargo: staff only until this day
    # Changes whenever the decision could: in every ETag and cache key of the image.
    fingerprint: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = (
            self.public.value,
            str(self.public_max),
            ",".join(sorted(self.full_for)),
            self.hidden_until.isoformat() if self.hidden_until else "",
        )
        digest = hashlib.blake2s("|".join(parts).encode(), digest_size=6).hexdigest()
        object.__setattr__(self, "fingerprint", digest)

    @property
    def is_public(self) -> bool:
        """Open to everyone in full today, whatever the request holds."""
        return self.public_on() is Access.FULL

    def public_on(self, today: date | None = None) -> Access:
        """What anyone gets on this day (today unless given): an embargo hides it."""
        if self.hidden_until is not None and (today or date.today()) < self.hidden_until:
            return Access.HIDDEN
        return self.public

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "sha256": self.sha256,
            "access": self.level,
            "public": self.public.value,
            "public_max": self.public_max,
            "full_for": sorted(self.full_for),
            "hidden_until": self.hidden_until.isoformat() if self.hidden_until else None,
        }

    @classmethod
    def from_json(cls, document: object) -> Policy:
        """The sidecar's policy; anything damaged or unknown grants nobody but staff."""
        if not isinstance(document, dict):
            return UNPUBLISHED
        try:
            full_for = document.get("full_for", ["staff"])
            if not isinstance(full_for, list):
                return UNPUBLISHED
            until = document.get("hidden_until")
            return cls(
                item=str(document["item"]) if document.get("item") else None,
                sha256=str(document["sha256"]) if document.get("sha256") else None,
                level=str(document["access"]) if document.get("access") else None,
                public=Access(str(document.get("public", "hidden"))),
                public_max=max(0, int(document.get("public_max", 0))),
                full_for=frozenset(str(g) for g in full_for),
                hidden_until=date.fromisoformat(str(until)) if until else None,
            )
        except (TypeError, ValueError):
            return UNPUBLISHED


# No sidecar: never published, so the image exists only for staff (a curator's preview).
UNPUBLISHED = Policy()


@dataclass(frozen=True, slots=True)
class Grant:
    """What one request may have of one image."""

    kind: Access
    max_edge: int = 0  # for DEGRADED: the longest edge the whole image may be shown at

    @property
    def key(self) -> str:
        """For cache keys and ETags: two grants that render differently never share one."""
        return f"{self.kind.value}{self.max_edge}" if self.kind is Access.DEGRADED else self.kind


def decide(policy: Policy, held: frozenset[str], today: date | None = None) -> Grant:
    """The one access rule: what someone holding these credentials gets under this policy.

    Hidden (a draft, a withdrawn item, staff level, an embargo) is for staff alone,
    whatever else the policy lists; otherwise any credential the policy names opens it.
    """
    public = policy.public_on(today)
    if public is Access.HIDDEN:
        return Grant(Access.FULL) if Credential.STAFF in held else Grant(Access.HIDDEN)
    if public is Access.FULL or held & policy.full_for:
        return Grant(Access.FULL)
    if public is Access.DEGRADED:
        return Grant(Access.DEGRADED, policy.public_max)
    return Grant(Access.NONE)


# -- the reading room's networks --------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: object) -> tuple[Network, ...]:
    """The networks a setting names: a list of CIDR strings, or one string of them
    separated by commas (as an environment variable gives it). ValueError says which
    entry is wrong, so a typo stops start-up rather than opening or closing a door."""
    if value is None:
        return ()
    entries: list[object]
    if isinstance(value, str):
        entries = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        entries = list(value)
    else:
        raise ValueError(f"expected a list of networks such as 10.0.0.0/8, not {value!r}")
    networks: list[Network] = []
    for entry in entries:
        if isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(entry)
            continue
        try:  # only text: JSON would make "10" the number 10, and that 0.0.0.10
            if not isinstance(entry, str):
                raise ValueError(entry)
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{entry!r} is not a network: write one such as 10.0.0.0/8 or fd00::/8"
            ) from None
    return tuple(networks)


def in_networks(address: str | None, networks: Iterable[Network]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == network.version and ip in network for network in networks)


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, as browsers send it in Origin; "" when it has none."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def trusted_origins(public_url: str, partners: Iterable[str]) -> frozenset[str]:
    """Our own site and the partners named: who may receive tokens and read non-open
    images with a reader's cookie."""
    return frozenset({origin_of(public_url), *partners})


def setting(name: str, parse: Callable[[object], T], value: object) -> T:
    """A setting parsed at start-up; a bad value stops it with the variable's name."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"TANGTHU_{name}: {exc}") from None


def parse_origins(value: object) -> tuple[str, ...]:
    """Web origins (https://host[:port]) from a list or a comma-separated string."""
    if value is None or value == "":
        return ()
    entries = value.split(",") if isinstance(value, str) else value
    if not isinstance(entries, list | tuple):
        raise ValueError("expected a list of origins such as https://thuvien.example.vn")
    origins = []
    for entry in entries:
        text = str(entry).strip().lower().rstrip("/")
        if not _ORIGIN.match(text):
            raise ValueError(f"{text[:80]!r} is not an origin such as https://thuvien.example.vn")
        origins.append(text)
    return tuple(origins)


_ORIGIN = re.compile(
    r"^https?://[a-z0-9.-]{1,253}(:\d{1,5})?$|^https?://\[[0-9a-f:.]+\](:\d{1,5})?$"
)


# -- revocation ----------------------------------------------------------------------

REVOCATIONS_KEY = "access/revocations.json"


@dataclass(frozen=True, slots=True)
class Revocations:
    """Each subject's current epoch: their tokens of an older epoch are void.

    Sign-out, and changes of role or groups, advance a reader's epoch. Entries older than
    the longest token lifetime are dropped, since every token they could void has expired.
    """

    epochs: Mapping[str, int] = field(default_factory=dict)

    def allows(self, subject: str, epoch: int) -> bool:
        return epoch >= self.epochs.get(subject, 0)

    @classmethod
    def from_json(cls, document: object) -> Revocations:
        if not isinstance(document, dict):
            return cls()
        epochs = {}
        entries = document.get("epochs")
        for subject, entry in entries.items() if isinstance(entries, dict) else ():
            try:
                epochs[str(subject)] = int(entry["epoch"] if isinstance(entry, dict) else entry)
            except (KeyError, TypeError, ValueError):
                continue
        return cls(epochs)


def policy_key(image_id: str) -> str:
    """Where an image's sidecar is kept."""
    return f"policies/{image_id}.json"


def item_policy_key(item_id: str) -> str:
    """Where an item's own sidecar is kept: a folder apart, so that no image identifier
    (which may hold a slash once decoded) can name it."""
    return f"item-policies/{item_id}.json"


class PolicyStore:
    """Sidecars by image id, and the revocation list, cached in memory.

    On local storage a file is re-read whenever it changes (one stat a request), so
    publishing, withdrawing, a change of access or a sign-out takes effect at once. From
    S3 it is re-read at most every ``ttl`` seconds, so tiles cost no network call.
    """

    def __init__(self, reader: Reader, ttl: float, local_root: str | None = None) -> None:
        self.reader = reader
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float | int, Any]] = {}
        if local_root is None and isinstance(reader, LocalReader):
            local_root = str(reader.root)
        self._local = local_root is not None
        self._root = local_root or ""

    def _stamp(self, key: str) -> int:
        try:
            return os.stat(f"{self._root}/{key}").st_mtime_ns
        except OSError:
            return -1  # no such file

    def _parsed(self, key: str, parse: Callable[[object], T]) -> T:
        stamp: float | int = self._stamp(key) if self._local else time.monotonic()
        with self._lock:
            hit = self._cached.get(key)
        if hit and (hit[0] == stamp if self._local else stamp - hit[0] < self.ttl):
            cached: T = hit[1]
            return cached
        try:
            document: object = json.loads(self.reader.local_path(key).read_text())
        except (KeyError, OSError, ValueError):
            document = None  # missing or damaged: the parser's most closed answer
        parsed = parse(document)
        with self._lock:
            if len(self._cached) > 50_000:
                self._cached.clear()
            self._cached[key] = (stamp, parsed)
        return parsed

    def get(self, identifier: str) -> Policy:
        return self._parsed(policy_key(identifier), Policy.from_json)

    def item(self, item_id: str) -> Policy:
        """The item's own policy (no image's checksum): what decides its manifest."""
        return self._parsed(item_policy_key(item_id), Policy.from_json)

    def revocations(self) -> Revocations:
        return self._parsed(REVOCATIONS_KEY, Revocations.from_json)
