"""The public pages of the collections: home, a collection, an item, its record and PDF."""

from __future__ import annotations

import json
from datetime import date

from flask import Response, abort, jsonify, render_template, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import ColumnElement
from sqlalchemy.orm import selectinload

from .. import get_storage
from ..extensions import db
from ..models import Collection, Item
from ..services.access import Access, can_download, can_see_item, public_access, visible_items
from ..services.downloads import item_pdf
from ..services.linked_data import schema_org
from ..settings import current_settings
from ..web import current_viewer, localized, public_urls
from .blueprint import bp

HOME_ITEMS = 8  # the newest items the home page shows of each collection


@bp.get("/")
def index() -> str:
    """Featured collections first, each with its few newest items and its count: the
    statements made do not grow with the catalogue."""
    viewer = current_viewer()
    visible = visible_items(viewer)
    counts: dict[int, int] = {
        collection_id: count
        for collection_id, count in db.session.execute(
            db.select(Item.collection_id, db.func.count(Item.id))
            .where(visible)
            .group_by(Item.collection_id)
        )
    }
    collections = db.session.execute(
        db.select(Collection).order_by(Collection.featured.desc(), Collection.id)
    ).scalars()
    shown = []
    for collection in collections:
        count = counts.get(collection.id, 0)
        if count or viewer.is_staff:
            shown.append((collection, _newest_items(collection, visible) if count else [], count))
    return render_template("public/index.html", collections=shown)


def _newest_items(collection: Collection, visible: ColumnElement[bool]) -> list[Item]:
    return list(
        db.session.execute(
            db.select(Item)
            .where(Item.collection_id == collection.id, visible)
            .order_by(Item.created_at.desc(), Item.id)
            .limit(HOME_ITEMS)
            .options(selectinload(Item.images))
        ).scalars()
    )


@bp.get("/collections/<slug>")
def collection(slug: str) -> str:
    found = db.first_or_404(db.select(Collection).filter_by(slug=slug))
    page = db.paginate(
        db.select(Item)
        .where(Item.collection_id == found.id, visible_items(current_viewer()))
        .order_by(Item.created_at),
        per_page=24,
    )
    return render_template("public/collection.html", collection=found, page=page)


@bp.get("/items/<item_id>")
def item(item_id: str) -> str:
    found = db.get_or_404(Item, item_id)
    if not can_see_item(current_viewer(), found):
        abort(404)
    urls = public_urls()
    # A record held elsewhere shows its institution's manifest, if it has one.
    manifest_url = found.remote_manifest or (urls.manifest(found.id) if found.images else "")
    embed_url = f"{urls.base}{url_for('viewer.embed', manifest=manifest_url)}"
    snippet = (
        f'<iframe src="{escape(embed_url)}" width="100%" height="600" allowfullscreen '
        f'title="{escape(localized(found.title))}"></iframe>'
    )
    settings = current_settings()
    linked = schema_org(found, urls, settings.library_name, settings.default_rights)
    return render_template(
        "public/item.html",
        linked_data=Markup(json.dumps(linked, ensure_ascii=False).replace("<", "\\u003c")),
        share_image=linked.get("image", ""),
        item_page_url=urls.item_page(found.id),
        item=found,
        manifest_url=manifest_url,
        embed_snippet=snippet,
        citation=citation(found),
        # Only for images not open to all does the viewer send the access cookie.
        credentials_for=public_urls().image_url if public_access(found) != Access.FULL else "",
        can_download=bool(found.images) and can_download(current_viewer(), found),
    )


def citation(item: Item) -> str:
    """A plain citation: creator, title, date, call number, library, URL, access date."""

    def first(element: str) -> str:
        values = item.dc.get(element, [])
        return str(values[0]["value"]) if values else ""

    parts = [
        first("creator"),
        localized(item.title),
        first("date"),
        first("identifier"),
        localized(current_settings().library_name),
        public_urls().item_page(item.id),
    ]
    accessed = _("accessed %(day)s", day=date.today().isoformat())
    return ". ".join(p for p in parts if p) + f" ({accessed})."


@bp.get("/items/<item_id>/record.json")
def record(item_id: str) -> Response:
    """The item's descriptive record (the manifest's seeAlso), as Dublin Core in JSON."""
    found = db.get_or_404(Item, item_id)
    if not can_see_item(current_viewer(), found):
        abort(404)
    body = {
        "id": public_urls().item_page(found.id),
        "manifest": public_urls().manifest(found.id),
        "title": found.title,
        "summary": found.summary,
        "collection": found.collection.slug,
        "dc": found.dc,
        "year_start": found.year_start,
        "year_end": found.year_end,
        "rights": found.rights or current_settings().default_rights,
        "pages": len(found.images),
    }
    response = jsonify(body)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/items/<item_id>/download.pdf")
def download_pdf(item_id: str) -> Response:
    found = db.get_or_404(Item, item_id)
    if not can_see_item(current_viewer(), found):
        abort(404)
    if not found.images or not can_download(current_viewer(), found):
        abort(403, _("This item cannot be downloaded."))
    body = item_pdf(found, get_storage(), current_settings().pdf_max_pages)  # or 413
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{found.id}.pdf"'
    return response
