"""The IIIF Presentation blueprint, and the JSON-LD answer every one of its views gives."""

from __future__ import annotations

import gzip
import hashlib

from flask import Blueprint, Response, abort, request

from ..extensions import db
from ..models import Item
from ..services.access import can_see_item
from ..web import current_viewer

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


def visible_item(item_id: str) -> Item:
    """The item, if this viewer may know of it; else 404, as for no item at all."""
    item = db.session.get(Item, item_id)
    if item is None or not can_see_item(current_viewer(), item):
        abort(404, "no published item has this id")
    return item
