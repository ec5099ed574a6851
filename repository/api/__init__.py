"""IIIF Presentation endpoints: stored manifests served as a read, and collections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from flask import Response, abort, current_app, redirect, request, send_file

from image_server.policy import Access, decide
from manifests import collection_json, collection_v2

from .. import get_storage, item_policies
from ..extensions import db
from ..models import ITEM_ID, Collection, Image, Item
from ..services.access import ANONYMOUS, visible_items
from ..services.collections import collection_record, kept_shared, top_collection
from ..services.publish import manifest_key, render_manifests
from ..settings import current_settings
from ..web import current_viewer, publish_settings
from . import discovery, text  # their views register on bp
from .blueprint import bp, content_type, iiif_json
from .blueprint import visible_item as _visible_item

__all__ = ["bp", "discovery", "text"]

# What an item id may be before it names a file (ids are made by `new_id`, at most 32 of
# these letters): anything else goes the long way, to a 404.
NO_CREDENTIALS: frozenset[str] = frozenset()


def _manifest(item_id: str, version: int) -> Response:
    # The hot path of every viewer: an item everyone may see says so in its own sidecar,
    # written at publish beside the manifest and read by `decide` with no credential. What
    # anyone may see, everyone may: no query, no session, the stored file as it is.
    policies = item_policies()
    if policies is not None and ITEM_ID.fullmatch(item_id):
        if decide(policies.item(item_id), NO_CREDENTIALS).kind is not Access.HIDDEN:
            stored = stored_json(item_id, version, missing=None)
            if stored is not None:
                return stored
    # One narrow query, asked with the access rule's own SQL form: the hot path of every
    # viewer, so no ORM object and none of the book's thousands of page rows.
    found = db.session.execute(
        db.select(
            Item.status,
            Item.remote_manifest,
            db.select(Image.id).where(Image.item_id == Item.id).exists().label("has_pages"),
            visible_items(ANONYMOUS).label("public"),
        ).where(Item.id == item_id, visible_items(current_viewer()))
    ).first()
    if found is None:
        abort(404, "no published item has this id")
    if found.remote_manifest:  # a union-catalogue record: its pages live at its institution
        return redirect(found.remote_manifest, 303)  # type: ignore[return-value]
    if not found.has_pages:
        abort(404, "this record has no digitised pages here")
    if found.status != "published":  # a curator previewing a draft: built fresh, not stored
        v3, v2 = render_manifests(_visible_item(item_id), publish_settings())
        return iiif_json(v3 if version == 3 else v2, version, public=False)
    # Only what exists for everyone may sit in shared caches; a staff-only item's manifest
    # is shown to its curators alone.
    response = stored_json(item_id, version, public=bool(found.public))
    assert response is not None  # a missing file was a 404
    return response


def stored_json(
    item_id: str, version: int, public: bool = True, missing: Literal[404] | None = 404
) -> Response | None:
    """The stored manifest file itself: sendfile, ETag and 304 by Flask, gzip if taken.
    No file is a 404, or None when ``missing`` is None (the caller asks further)."""
    gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
    try:
        path = get_storage().local_path(manifest_key(item_id, version, gzipped=gzipped))
    except KeyError:
        gzipped = False  # a 2.1 manifest stored before 2.1 had a gzip copy is sent plain
        try:
            path = get_storage().local_path(manifest_key(item_id, version))
        except KeyError:
            if missing is None:
                return None
            abort(404, "this item's manifest has not been written yet; republish it")
    response = send_file(
        path, mimetype=content_type(version), conditional=True, etag=True, max_age=300
    )
    response.headers["Vary"] = "Accept, Accept-Encoding"
    if not public:
        response.headers["Cache-Control"] = "private, no-store"
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    return response


@bp.get("/<item_id>/manifest")
def manifest(item_id: str) -> Response:
    return _manifest(item_id, 3)


@bp.get("/2/<item_id>/manifest")
def manifest_2(item_id: str) -> Response:
    return _manifest(item_id, 2)


def _page_argument() -> int | None:
    raw = request.args.get("page")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 9:
        abort(400, "page must be a positive whole number")
    return int(raw)


def _collection(slug: str, version: int) -> Response:
    viewer, page = current_viewer(), _page_argument()
    # A page of up to COLLECTION_PAGE_SIZE manifests costs far more to build than to send:
    # it is built once per state of the catalogue (and who may see what), then kept.
    body = kept_shared(
        ("iiif-collection", current_settings().urls.base, slug, version, page, viewer.is_staff),
        lambda: _collection_body(slug, version, page),
        Path(current_app.instance_path) / "cache" / "iiif-collections",
    )
    return iiif_json(body, version, public=not viewer.is_staff)


def _collection_body(slug: str, version: int, page: int | None) -> bytes:
    settings = publish_settings()
    if slug == "top":
        record = top_collection(current_settings().library_name)
    else:
        found = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
        if found is None:
            abort(404, "no collection has this name")
        size = current_settings().collection_page_size
        # A page past the last is NotFound: plain text, as every refusal under /iiif/.
        record = collection_record(found, current_viewer(), page, size)
    build: Any = collection_json if version == 3 else collection_v2
    document = build(record, settings.urls)
    return json.dumps(document, ensure_ascii=False).encode()


@bp.get("/collection/<slug>")
def collection(slug: str) -> Response:
    return _collection(slug, 3)


@bp.get("/2/collection/<slug>")
def collection_2(slug: str) -> Response:
    return _collection(slug, 2)
