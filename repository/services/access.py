"""The one place that decides who may see what.

Every page, manifest, collection, search document, OAI record, Discovery activity,
sitemap, open-data row, PDF, thumbnail and page text asks here. The decision itself is
`image_server.policy.decide`, applied to the `Policy` this module makes for an item: the
image server applies the very same function to the same policy, written beside each
image as its sidecar, so the two processes cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, or_, true

from image_server.policy import (
    STAFF_ONLY,
    Access,
    Credential,
    Policy,
    decide,
    group_credential,
    portable,
)

from ..models import Image, Item
from .planner import unindexed

__all__ = ["Access", "AccessLevel", "Viewer", "ANONYMOUS", "STAFF_ROLES"]


class AccessLevel(StrEnum):
    OPEN = "open"
    DEGRADED = "degraded"
    RESTRICTED = "restricted"
    ONSITE = "onsite"
    STAFF = "staff"


class Status(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


STAFF_ROLES = frozenset({"admin", "curator"})


def is_staff_role(role: str | None) -> bool:
    return role in STAFF_ROLES


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: enough to decide, nothing tied to a request object."""

    role: str | None = None  # None for anonymous visitors
    groups: frozenset[str] = field(default_factory=frozenset)
    onsite: bool = False  # this request comes from the reading room's networks

    @property
    def is_staff(self) -> bool:
        return is_staff_role(self.role)

    @property
    def signed_in(self) -> bool:
        return self.role is not None


ANONYMOUS = Viewer()


def credentials(viewer: Viewer) -> frozenset[str]:
    """What this viewer holds, in the vocabulary of `image_server.policy.Credential`."""
    held = {group_credential(name) for name in viewer.groups}
    if viewer.signed_in:
        held.add(Credential.READER.value)
    if viewer.is_staff:
        held.add(Credential.STAFF.value)
    if viewer.onsite:
        held.add(Credential.ONSITE.value)
    return frozenset(held)


def portable_credentials(viewer: Viewer) -> frozenset[str]:
    """What a cookie or token may carry: never the reading room."""
    return portable(credentials(viewer))


def effective_level(item: Item, today: date | None = None) -> AccessLevel:
    """An embargo holds an item at staff until its day comes."""
    today = today or date.today()
    if item.embargo_until and item.embargo_until > today:
        return AccessLevel.STAFF
    return AccessLevel(item.access)


def full_access_grants(item: Item) -> frozenset[str]:
    """Any one of these credentials sees the item's images at full resolution.

    A draft or withdrawn item, and a staff-level one, is for staff alone."""
    level = AccessLevel(item.access)
    if item.status != Status.PUBLISHED or level is AccessLevel.STAFF:
        return STAFF_ONLY
    if level is AccessLevel.DEGRADED:
        return frozenset({Credential.STAFF.value, Credential.READER.value})
    if level is AccessLevel.RESTRICTED:
        groups = item.collection.groups if item.collection else []
        if groups:
            return frozenset({Credential.STAFF.value, *(group_credential(g.name) for g in groups)})
        return frozenset({Credential.STAFF.value, Credential.READER.value})
    if level is AccessLevel.ONSITE:
        return frozenset({Credential.STAFF.value, Credential.ONSITE.value})
    return STAFF_ONLY


_PUBLIC = {
    AccessLevel.OPEN: Access.FULL,
    AccessLevel.DEGRADED: Access.DEGRADED,
    AccessLevel.RESTRICTED: Access.NONE,
    AccessLevel.ONSITE: Access.NONE,
    AccessLevel.STAFF: Access.HIDDEN,
}


def item_policy(item: Item, degraded_edge: int = 0, image: Image | None = None) -> Policy:
    """The item's access, as the policy both processes decide by.

    An embargo is kept as its date rather than folded into the level, so it lifts on its
    day in the image server too, with nothing republished."""
    level = AccessLevel(item.access)
    public = _PUBLIC[level] if item.status == Status.PUBLISHED else Access.HIDDEN
    today = date.today()
    embargo = item.embargo_until if item.embargo_until and item.embargo_until > today else None
    return Policy(
        item=item.id,
        sha256=image.derivative_sha256 if image is not None else None,
        level=level.value,
        public=public,
        public_max=degraded_edge if public is Access.DEGRADED else 0,
        full_for=full_access_grants(item),
        hidden_until=embargo if public is not Access.HIDDEN else None,
    )


def image_policy(item: Item, image: Image, degraded_edge: int) -> Policy:
    """The sidecar the image server enforces for one image."""
    return item_policy(item, degraded_edge, image)


def image_access(viewer: Viewer, item: Item) -> Access:
    """FULL, DEGRADED, NONE or HIDDEN: what this viewer gets of the item's images."""
    return decide(item_policy(item), credentials(viewer)).kind


def public_access(item: Item) -> Access:
    """What a visitor with no credential gets of the item's images."""
    return image_access(ANONYMOUS, item)


def can_see_item(viewer: Viewer, item: Item) -> bool:
    """Whether the item exists at all for this viewer (pages, manifests, search...)."""
    return image_access(viewer, item) is not Access.HIDDEN


def can_download(viewer: Viewer, item: Item) -> bool:
    """A PDF of the whole item: for everyone when its images are open to all, and staff.

    A PDF leaves the site for good, so a reader's or the reading room's access to a
    restricted item does not extend to one."""
    if not can_see_item(viewer, item):
        return False
    return viewer.is_staff or public_access(item) is Access.FULL


def can_read_text(viewer: Viewer, item: Item) -> bool:
    """The words on the pages are as open as the pages: only to who sees them in full
    (annotations, Content Search, ALTO, and the text beside the image on the item page)."""
    return can_see_item(viewer, item) and image_access(viewer, item) is Access.FULL


def text_is_public(item: Item) -> bool:
    """Whether the words on the pages may go into the public search index."""
    return public_access(item) is Access.FULL


def shows_thumbnails(viewer: Viewer, item: Item) -> bool:
    """Whether this viewer gets pixels of the item, in full or reduced."""
    return image_access(viewer, item) in (Access.FULL, Access.DEGRADED)


def visible_items(
    viewer: Viewer, today: date | None = None, *, ordered_elsewhere: bool = False
) -> ColumnElement[bool]:
    """The same rule as ``can_see_item``, as a SQL condition for listings.

    ``ordered_elsewhere``: the listing walks an index of its own (titles, years, a term's
    items) and the status is only filtered by (``services.planner``)."""
    if viewer.is_staff:
        return true()
    today = today or date.today()
    not_embargoed = or_(Item.embargo_until.is_(None), Item.embargo_until <= today)
    status = unindexed(Item.status) if ordered_elsewhere else Item.status
    return and_(
        status == Status.PUBLISHED.value,
        Item.access != AccessLevel.STAFF.value,
        not_embargoed,
    )


# -- what the public may know of an item's history (OAI-PMH, Change Discovery) ------------


def publicly_known(item: Item, today: date | None = None) -> bool:
    """Whether the public may know the item existed: it is visible to them now, or it was
    published and withdrawn at a level (and out of any embargo) that they could see.

    OAI-PMH keeps such an item as a deleted record; Discovery keeps its history."""
    if can_see_item(ANONYMOUS, item):
        return True
    try:
        level = effective_level(item, today)
    except ValueError:  # a level this code does not know: not public
        return False
    was_public = item.status == Status.WITHDRAWN and item.published_at is not None
    return was_public and level is not AccessLevel.STAFF


def publicly_known_items(today: date | None = None) -> ColumnElement[bool]:
    """The same rule as ``publicly_known``, as a SQL condition."""
    today = today or date.today()
    not_embargoed = or_(Item.embargo_until.is_(None), Item.embargo_until <= today)
    withdrawn = and_(
        Item.status == Status.WITHDRAWN.value,
        Item.published_at.is_not(None),
        Item.access != AccessLevel.STAFF.value,
        not_embargoed,
    )
    return or_(visible_items(ANONYMOUS, today), withdrawn)


@dataclass(frozen=True, slots=True)
class SearchVisibility:
    """What a search index needs to leave an item out for the public, with no database."""

    hidden: bool  # staff only, whatever the day
    embargo_until: date | None  # staff only until this day


def search_visibility(item: Item) -> SearchVisibility:
    level = AccessLevel(item.access)
    hidden = item.status != Status.PUBLISHED or level is AccessLevel.STAFF
    return SearchVisibility(hidden, item.embargo_until)
