"""IIIF collections from the database: the top collection, and each collection, paged."""

from __future__ import annotations

import math

from sqlalchemy import or_

from manifests import CanvasRecord, CollectionRecord, ManifestSummary, language_map

from ..extensions import db
from ..models import Collection, Item
from .access import ANONYMOUS, Viewer, shows_thumbnails, visible_items
from .errors import NotFound


def top_collection(label: dict[str, str]) -> CollectionRecord:
    """Every collection without a parent; ``label`` is the library's name."""
    roots = db.session.execute(
        db.select(Collection).where(Collection.parent_id.is_(None)).order_by(Collection.slug)
    ).scalars()
    summary = {
        "vi": f"Các bộ sưu tập của {label['vi']}" if label.get("vi") else "",
        "en": f"The collections of {label['en']}" if label.get("en") else "",
    }
    return CollectionRecord(
        slug="top",
        label=language_map(label),
        summary=language_map(summary) if any(summary.values()) else None,
        children=tuple((c.slug, language_map(c.title)) for c in roots),
    )


def _counted(total: int) -> dict[str, str]:
    """What a collection without a description of its own says about itself."""
    items = "item" if total == 1 else "items"
    return {"vi": f"Bộ sưu tập gồm {total} tài liệu.", "en": f"A collection of {total} {items}."}


def _summary(item: Item) -> ManifestSummary:
    # No thumbnail for images the public cannot see: it would only be a refused request.
    first = item.images[0] if item.images and shows_thumbnails(ANONYMOUS, item) else None
    thumb = CanvasRecord(first.id, {"none": [""]}, first.width, first.height) if first else None
    return ManifestSummary(item.id, language_map(item.title), thumb)


def collection_record(
    collection: Collection, viewer: Viewer, page: int | None, page_size: int
) -> CollectionRecord:
    """A collection's sub-collections and published items; past page_size, in pages."""
    query = (
        db.select(Item)
        .where(
            Item.collection_id == collection.id,
            Item.status == "published",
            visible_items(viewer),
            # Catalogue records without pages have no manifest to list.
            or_(Item.remote_manifest != "", Item.images.any()),
        )
        .order_by(Item.created_at, Item.id)
    )
    total = db.session.execute(query.with_only_columns(db.func.count()).order_by(None)).scalar_one()
    pages = max(1, math.ceil(total / page_size))
    label = language_map(collection.title)
    # Every collection has a description (2.1 validators ask for one): the curators',
    # or else how many items it holds.
    summary = language_map(
        collection.description if any(collection.description.values()) else _counted(total)
    )
    if page is None and pages > 1:
        children = tuple((c.slug, language_map(c.title)) for c in collection.children)
        pages_of = tuple(range(1, pages + 1))
        return CollectionRecord(
            slug=collection.slug, label=label, summary=summary, children=children, pages=pages_of
        )
    if page is not None and not 1 <= page <= pages:
        raise NotFound(f"this collection has pages 1 to {pages}")
    offset = ((page or 1) - 1) * page_size
    items = db.session.execute(query.offset(offset).limit(page_size)).scalars()
    children = () if page else tuple((c.slug, language_map(c.title)) for c in collection.children)
    return CollectionRecord(
        slug=collection.slug,
        label=label,
        summary=summary,
        children=children,
        page=page,
        manifests=tuple(_summary(item) for item in items),
    )
