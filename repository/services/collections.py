"""IIIF collections from the database: the top collection, and each collection, paged."""

from __future__ import annotations

import math

from sqlalchemy import or_

from manifests import CanvasRecord, CollectionRecord, ManifestSummary, language_map

from ..extensions import db
from ..models import Collection, Item
from .access import ANONYMOUS, Viewer, shows_thumbnails, visible_items


class NoSuchPage(Exception):
    pass


def top_collection(label: dict[str, str]) -> CollectionRecord:
    roots = db.session.execute(
        db.select(Collection).where(Collection.parent_id.is_(None)).order_by(Collection.slug)
    ).scalars()
    return CollectionRecord(
        slug="top",
        label=language_map(label),
        children=tuple((c.slug, language_map(c.title)) for c in roots),
    )


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
    common = {
        "slug": collection.slug,
        "label": language_map(collection.title),
        "summary": language_map(collection.description)
        if any(collection.description.values())
        else None,
    }
    if page is None and pages > 1:
        children = tuple((c.slug, language_map(c.title)) for c in collection.children)
        return CollectionRecord(**common, children=children, pages=tuple(range(1, pages + 1)))
    if page is not None and not 1 <= page <= pages:
        raise NoSuchPage(f"this collection has pages 1 to {pages}")
    offset = ((page or 1) - 1) * page_size
    items = db.session.execute(query.offset(offset).limit(page_size)).scalars()
    children = () if page else tuple((c.slug, language_map(c.title)) for c in collection.children)
    return CollectionRecord(
        **common, children=children, page=page, manifests=tuple(_summary(item) for item in items)
    )
