"""The one place that decides who may see what.

Pages, manifests, collections and downloads ask `can_see_item` and `image_access`. The
image server cannot ask: it has no database. So the same decision is written down for it
in two halves that it only has to match: each image's policy sidecar (`image_policy`)
says which grants see it in full and what everyone else gets, and each reader's signed
access token carries that reader's grants (`grants`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, true

from ..models import Image, Item


class AccessLevel(StrEnum):
    OPEN = "open"
    DEGRADED = "degraded"
    RESTRICTED = "restricted"
    ONSITE = "onsite"
    STAFF = "staff"


# What someone without any grant gets of an image.
FULL, DEGRADED, NONE, HIDDEN = "full", "degraded", "none", "hidden"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: enough to decide, nothing tied to a request object."""

    role: str | None = None  # None for anonymous visitors
    groups: frozenset[str] = field(default_factory=frozenset)
    onsite: bool = False  # in the reading room (by address), or a kiosk session

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "curator")

    @property
    def signed_in(self) -> bool:
        return self.role is not None


ANONYMOUS = Viewer()


def effective_level(item: Item, today: date | None = None) -> AccessLevel:
    """An embargo holds an item at staff until its day comes."""
    today = today or date.today()
    if item.embargo_until and item.embargo_until > today:
        return AccessLevel.STAFF
    return AccessLevel(item.access)


def can_see_item(viewer: Viewer, item: Item) -> bool:
    """Whether the item exists at all for this viewer (pages, manifests, search...)."""
    if viewer.is_staff:
        return True
    return item.status == "published" and effective_level(item) is not AccessLevel.STAFF


def visible_items(viewer: Viewer, today: date | None = None) -> ColumnElement[bool]:
    """The same rule as ``can_see_item``, as a SQL condition for listings."""
    if viewer.is_staff:
        return true()
    today = today or date.today()
    not_embargoed = or_(Item.embargo_until.is_(None), Item.embargo_until <= today)
    return and_(Item.status == "published", Item.access != AccessLevel.STAFF.value, not_embargoed)


def grants(viewer: Viewer) -> list[str]:
    """What a reader's access token says about them, in the sidecars' vocabulary."""
    held = []
    if viewer.signed_in:
        held.append("reader")
    if viewer.is_staff:
        held.append("staff")
    held += [f"group:{name}" for name in sorted(viewer.groups)]
    if viewer.onsite:
        held.append("onsite")
    return held


def full_access_grants(item: Item) -> list[str]:
    """Any one of these grants sees the item's images at full resolution."""
    level = effective_level(item)
    if level is AccessLevel.DEGRADED:
        return ["reader"]
    if level is AccessLevel.RESTRICTED:
        groups = [f"group:{g.name}" for g in item.collection.groups] if item.collection else []
        return ["staff", *groups] if groups else ["staff", "reader"]
    if level is AccessLevel.ONSITE:
        return ["staff", "onsite"]
    return ["staff"]


def public_access(item: Item) -> str:
    """What a visitor with no grant gets of the item's images."""
    level = effective_level(item)
    if item.status != "published" or level is AccessLevel.STAFF:
        return HIDDEN
    return {AccessLevel.OPEN: FULL, AccessLevel.DEGRADED: DEGRADED}.get(level, NONE)


def image_access(viewer: Viewer, item: Item) -> str:
    """full, degraded, none or hidden: this viewer and this item's images."""
    public = public_access(item)
    if public == FULL or set(grants(viewer)) & set(full_access_grants(item)):
        return FULL
    return public


def image_policy(item: Item, image: Image, degraded_edge: int) -> dict[str, Any]:
    """The sidecar the image server enforces for one image."""
    return {
        "item": item.id,
        "sha256": image.derivative_sha256,
        "access": effective_level(item).value,
        "public": public_access(item),
        "public_max": degraded_edge,
        "full_for": full_access_grants(item),
    }


def in_reading_room(address: str | None, ranges: Iterable[str]) -> bool:
    """Whether a client address falls in the reading room's configured networks."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in ranges)
