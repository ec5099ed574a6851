"""Collections for curators: create, change and delete them, each change audited.

Refusals carry the form field they belong to, so the admin shows them next to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from ..extensions import db
from ..models import Collection, Event, Image, Item, ReaderGroup
from .access import AccessLevel
from .audit import record
from .errors import Conflict, Refused

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes the change, for the audit log."""

    username: str
    address: str | None = None


@dataclass(frozen=True, slots=True)
class CollectionDraft:
    """What a curator sets on a collection; the slug is set once, at creation."""

    title: dict[str, str]
    description: dict[str, str] = field(default_factory=dict)
    default_access: AccessLevel = AccessLevel.OPEN
    parent_id: int | None = None
    featured: bool = False
    group_ids: frozenset[int] = frozenset()
    cover_image_id: str | None = None  # a page of one of the collection's items
    ocr_languages: str = ""  # Tesseract languages for new pages; empty: none


@dataclass(frozen=True, slots=True)
class CollectionRow:
    """One line of the curators' list."""

    collection: Collection
    items: int


@dataclass(frozen=True, slots=True)
class CollectionUpdate:
    """What a save changed, and whether the image server must learn of new reader groups."""

    changes: tuple[str, ...]
    groups_changed: bool = False


def collection_rows() -> list[CollectionRow]:
    """Every collection with its number of items (drafts included), by slug."""
    counts = db.session.execute(
        db.select(Item.collection_id, db.func.count()).group_by(Item.collection_id)
    ).all()
    per_collection = {collection_id: int(count) for collection_id, count in counts}
    collections = db.session.execute(
        db.select(Collection)
        .options(joinedload(Collection.parent), selectinload(Collection.groups))
        .order_by(Collection.slug)
    ).scalars()
    return [CollectionRow(c, per_collection.get(c.id, 0)) for c in collections]


def lineage(collection: Collection | None) -> list[Collection]:
    """The collection, its parent, and so on up to the root (stopping at any loop)."""
    found: list[Collection] = []
    while collection is not None and collection not in found:
        found.append(collection)
        collection = collection.parent
    return found


def clean_text(values: dict[str, str]) -> dict[str, str]:
    """Trimmed texts with Unix line ends; empty languages dropped."""
    cleaned = {lang: text.replace("\r\n", "\n").strip() for lang, text in values.items()}
    return {lang: text for lang, text in cleaned.items() if text}


def _parent(collection: Collection | None, parent_id: int | None) -> Collection | None:
    if parent_id is None:
        return None
    parent = db.session.get(Collection, parent_id)
    if parent is None:
        raise Refused(fields={"parent": _("Choose a collection from the list.")})
    if collection is not None and collection in lineage(parent):
        message = _("A collection cannot be inside itself or one of its own sub-collections.")
        raise Refused(fields={"parent": message})
    return parent


def _groups(ids: Iterable[int]) -> list[ReaderGroup]:
    wanted = set(ids)
    if not wanted:
        return []
    found = (
        db.session.execute(
            db.select(ReaderGroup).where(ReaderGroup.id.in_(wanted)).order_by(ReaderGroup.name)
        )
        .scalars()
        .all()
    )
    if len(found) != len(wanted):
        raise Refused(fields={"groups": _("Choose reader groups from the list.")})
    return list(found)


def _slug_refusal(slug: str) -> Refused:
    return Refused(fields={"slug": _("Another collection already uses this short name.")})


def _check_slug(slug: str) -> None:
    if not SLUG.match(slug):
        raise Refused(fields={"slug": _("Use lowercase letters, digits and -.")})
    taken = db.session.execute(db.select(Collection.id).filter_by(slug=slug)).scalar()
    if taken is not None:
        raise _slug_refusal(slug)


def _names(groups: Iterable[ReaderGroup]) -> str:
    return ", ".join(sorted(g.name for g in groups)) or "-"


def _settings(collection: Collection) -> str:
    """A new collection's settings, for the audit log."""
    parent = collection.parent.slug if collection.parent else "-"
    featured = "featured" if collection.featured else "not featured"
    return (
        f"default access {collection.default_access}; parent {parent}; {featured}; "
        f"groups {_names(collection.groups)}"
    )


def _changes(
    collection: Collection,
    draft: CollectionDraft,
    parent: Collection | None,
    groups: list[ReaderGroup],
) -> tuple[str, ...]:
    """The audit log's account of a save, in English like the rest of the log."""
    changes = []
    if collection.title != draft.title:
        changes.append("title")
    if collection.description != draft.description:
        changes.append("description")
    if collection.default_access != draft.default_access.value:
        changes.append(f"default access {collection.default_access} → {draft.default_access}")
    if collection.parent is not parent:
        old, new = (c.slug if c else "-" for c in (collection.parent, parent))
        changes.append(f"parent {old} → {new}")
    if collection.featured != draft.featured:
        changes.append("featured" if draft.featured else "not featured")
    if collection.ocr_languages != draft.ocr_languages:
        changes.append(f"OCR {collection.ocr_languages or '-'} → {draft.ocr_languages or '-'}")
    if set(collection.groups) != set(groups):
        changes.append(f"groups {_names(collection.groups)} → {_names(groups)}")
    return tuple(changes)


def _apply(
    collection: Collection,
    draft: CollectionDraft,
    parent: Collection | None,
    groups: list[ReaderGroup],
) -> None:
    collection.title = clean_text(draft.title)
    collection.description = clean_text(draft.description)
    collection.default_access = draft.default_access.value
    collection.parent = parent
    collection.featured = draft.featured
    collection.ocr_languages = draft.ocr_languages
    collection.groups = groups
    collection.cover_image_id = _cover(collection, draft.cover_image_id)


def _cover(collection: Collection, image_id: str | None) -> str | None:
    """The chosen cover, if it is a page of this collection's items; refused otherwise."""
    if not image_id:
        return None
    owner = db.session.execute(
        db.select(Item.collection_id)
        .join(Image, Image.item_id == Item.id)
        .where(Image.id == image_id)
    ).scalar()
    if owner != collection.id:
        raise Refused(fields={"cover": _("Choose the cover from this collection's pages.")})
    return image_id


def create_collection(slug: str, draft: CollectionDraft, by: Actor) -> Collection:
    """A new collection; Refused for a bad or taken slug, parent or group."""
    _check_slug(slug)
    parent, groups = _parent(None, draft.parent_id), _groups(draft.group_ids)
    collection = Collection(slug=slug, title={}, description={})
    _apply(collection, draft, parent, groups)
    db.session.add(collection)
    try:
        db.session.flush()
    except IntegrityError:  # another curator took the slug a moment ago
        db.session.rollback()
        raise _slug_refusal(slug) from None
    db.session.add(Event(activity="Create", object_type="Collection", object_id=slug))
    record(
        "collection-created",
        by.username,
        target=slug,
        detail=_settings(collection),
        address=by.address,
    )
    return collection


def update_collection(
    collection: Collection, draft: CollectionDraft, by: Actor
) -> CollectionUpdate:
    """Save a curator's changes; Refused for a loop of parents or unknown groups."""
    clean = replace(draft, title=clean_text(draft.title), description=clean_text(draft.description))
    parent, groups = _parent(collection, clean.parent_id), _groups(clean.group_ids)
    changes = _changes(collection, clean, parent, groups)
    groups_changed = set(collection.groups) != set(groups)
    _apply(collection, clean, parent, groups)
    detail = "; ".join(changes) or "nothing changed"
    if changes:
        db.session.add(
            Event(activity="Update", object_type="Collection", object_id=collection.slug)
        )
    record(
        "collection-updated", by.username, target=collection.slug, detail=detail, address=by.address
    )
    return CollectionUpdate(changes, groups_changed)


def deletion_blockers(collection: Collection) -> tuple[str, ...]:
    """Why the collection cannot be deleted yet; empty when it can."""
    items = db.session.execute(
        db.select(db.func.count()).where(Item.collection_id == collection.id)
    ).scalar_one()
    children = len(collection.children)
    reasons = []
    if items:
        reasons.append(ngettext("It holds %(num)d item.", "It holds %(num)d items.", items))
    if children:
        reasons.append(
            ngettext(
                "It holds %(num)d sub-collection.", "It holds %(num)d sub-collections.", children
            )
        )
    return tuple(reasons)


def delete_collection(collection: Collection, by: Actor) -> None:
    """Delete an empty collection; Conflict while it holds items or sub-collections."""
    blockers = deletion_blockers(collection)
    if blockers:
        raise Conflict(reasons=blockers)
    slug, title = collection.slug, collection.title.get("vi", "")
    db.session.delete(collection)
    db.session.add(Event(activity="Delete", object_type="Collection", object_id=slug))
    record("collection-deleted", by.username, target=slug, detail=title, address=by.address)
