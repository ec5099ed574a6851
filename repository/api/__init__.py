"""IIIF Presentation endpoints: stored manifests served as a read, and collections."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, request, send_file

from manifests import collection_json, collection_v2

from .. import get_storage
from ..extensions import db
from ..models import Collection, Item
from ..services.access import ANONYMOUS, can_see_item
from ..services.collections import NoSuchPage, collection_record, top_collection
from ..services.publish import manifest_key, render_manifests
from ..web import current_viewer, publish_settings

bp = Blueprint("api", __name__, url_prefix="/iiif")

CONTEXTS = {
    3: "http://iiif.io/api/presentation/3/context.json",
    2: "http://iiif.io/api/presentation/2/context.json",
}
GZIP_OVER = 1024


@bp.after_request
def allow_cross_origin(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "ETag"
    return response


def content_type(version: int) -> str:
    """JSON-LD with the Presentation profile, unless the client asks for plain JSON."""
    accept = request.headers.get("Accept", "")
    if "application/json" in accept and "application/ld+json" not in accept:
        return "application/json"
    return f'application/ld+json;profile="{CONTEXTS[version]}"'


def iiif_json(body: bytes, version: int, public: bool = True) -> Response:
    """JSON-LD with the Presentation profile, ETag/304 and gzip where the client takes it."""
    etag = hashlib.blake2b(body, digest_size=12).hexdigest()
    response = Response(content_type=content_type(version))
    response.set_etag(etag)
    response.headers["Vary"] = "Accept, Accept-Encoding"
    response.headers["Cache-Control"] = "public, max-age=300" if public else "private, no-store"
    if request.if_none_match.contains(etag):
        response.status_code = 304
        return response
    if "gzip" in request.headers.get("Accept-Encoding", "") and len(body) > GZIP_OVER:
        response.set_data(gzip.compress(body, 6))
        response.headers["Content-Encoding"] = "gzip"
    else:
        response.set_data(body)
    return response


def _visible_item(item_id: str) -> Item:
    item = db.session.get(Item, item_id)
    if item is None or not can_see_item(current_viewer(), item):
        abort(404, "no published item has this id")
    return item


def _manifest(item_id: str, version: int) -> Response:
    item = _visible_item(item_id)
    if item.remote_manifest:  # a union-catalogue record: its pages live at its institution
        return redirect(item.remote_manifest, 303)  # type: ignore[return-value]
    if not item.images:
        abort(404, "this record has no digitised pages here")
    if item.status != "published":  # a curator previewing a draft: built fresh, not stored
        v3, v2 = render_manifests(item, publish_settings())
        return iiif_json(v3 if version == 3 else v2, version, public=False)
    # Only what exists for everyone may sit in shared caches; a staff-only item's manifest
    # is shown to its curators alone.
    return stored_json(item.id, version, public=can_see_item(ANONYMOUS, item))


def stored_json(item_id: str, version: int, public: bool = True) -> Response:
    """The stored manifest file itself: sendfile, ETag and 304 by Flask, gzip if taken."""
    gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
    try:
        path = get_storage().local_path(manifest_key(item_id, version, gzipped=gzipped))
    except KeyError:
        gzipped = False  # a 2.1 manifest stored before 2.1 had a gzip copy is sent plain
        try:
            path = get_storage().local_path(manifest_key(item_id, version))
        except KeyError:
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
    settings = publish_settings()
    if slug == "top":
        record = top_collection(current_app.config["LIBRARY_NAME"])
    else:
        found = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
        if found is None:
            abort(404, "no collection has this name")
        size = int(current_app.config["COLLECTION_PAGE_SIZE"])
        try:
            record = collection_record(found, current_viewer(), _page_argument(), size)
        except NoSuchPage as exc:
            abort(404, str(exc))
    build: Any = collection_json if version == 3 else collection_v2
    document = build(record, settings.urls)
    body = json.dumps(document, ensure_ascii=False).encode()
    return iiif_json(body, version, public=not current_viewer().is_staff)


@bp.get("/collection/<slug>")
def collection(slug: str) -> Response:
    return _collection(slug, 3)


@bp.get("/2/collection/<slug>")
def collection_2(slug: str) -> Response:
    return _collection(slug, 2)


from . import discovery as _discovery  # noqa: E402,F401  (registers Change Discovery)
from . import text as _text  # noqa: E402,F401  (registers the text and Content Search views)
