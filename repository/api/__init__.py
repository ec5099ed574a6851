"""IIIF Presentation endpoints: stored manifests, served as a read."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from .. import get_storage
from ..extensions import db
from ..models import Item
from ..services.access import can_see_item
from ..services.publish import manifest_key, render_manifest
from ..web import current_viewer, public_urls

bp = Blueprint("api", __name__, url_prefix="/iiif")

PRESENTATION_3 = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'


@bp.after_request
def allow_cross_origin(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/<item_id>/manifest")
def manifest(item_id: str) -> Response:
    item = db.get_or_404(Item, item_id)
    if not can_see_item(current_viewer(), item):
        abort(404, "no published item has this id")
    if item.status == "published":
        body = get_storage().get_bytes(manifest_key(item.id))
    else:  # a curator previewing a draft: build it fresh, never store it
        body = render_manifest(item, public_urls())
    return Response(body, content_type=PRESENTATION_3)
