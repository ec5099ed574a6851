"""The one place that decides who may see what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, or_, true

from ..models import Item


class AccessLevel(StrEnum):
    OPEN = "open"
    DEGRADED = "degraded"
    RESTRICTED = "restricted"
    ONSITE = "onsite"
    STAFF = "staff"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: enough to decide, nothing tied to a request object."""

    role: str | None = None  # None for anonymous visitors

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "curator")


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
