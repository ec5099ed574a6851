"""The public pages of the collections: home, a collection, an item, its record and PDF."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

from flask import Response, abort, jsonify, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import ColumnElement, union_all
from sqlalchemy.orm import selectinload

from .. import get_storage
from ..extensions import db
from ..models import Collection, Image, Item
from ..services.access import (
    Access,
    Viewer,
    can_download,
    can_read_text,
    can_see_item,
    public_access,
    visible_items,
)
from ..services.collections import BODIES, first_pages, kept, paginate_kept
from ..services.downloads import pdf_or_job
from ..services.linked_data import schema_org
from ..settings import current_settings
from ..web import current_viewer, localized, public_urls
from .access_requests import STATUS_LABELS, reading
from .blueprint import bp
from .browse import neighbours, newest, related
from .page_text import first_text

HOME_ITEMS = 8  # the newest items the home page shows of each collection shown in full
HOME_RECENT = 8  # the newest items of the whole catalogue, under "Recently added"


@bp.get("/")
def index() -> str:
    """Featured collections first, each with its few newest items and its count; the
    others with their cover and count. The statements are bounded by the number of
    collections, and each reads an index: none grows with the catalogue's rows read.

    The main part is rendered once per viewer, language, state of the catalogue and of
    the collections' own rows, and kept: the most visited page costs a few reads of the
    ends of indexes, and what is around the main part (messages, the menu) stays fresh."""
    viewer = current_viewer()
    collections = (
        db.session.execute(
            db.select(Collection).order_by(Collection.featured.desc(), Collection.id)
        )
        .scalars()
        .all()
    )
    shape = tuple(
        (
            c.id,
            c.slug,
            c.parent_id,
            c.featured,
            c.cover_image_id,
            json.dumps([c.title, c.description], sort_keys=True),
        )
        for c in collections
    )
    main = kept(
        ("home", viewer, str(get_locale()), shape),
        lambda: _home_main(viewer, collections),
        store=BODIES,
    )
    return render_template("public/index.html", main=main)


def _home_main(viewer: Viewer, collections: Sequence[Collection]) -> Markup:
    visible = visible_items(viewer)
    counts: dict[int, int] = kept(
        ("home-counts", viewer.is_staff),  # visible_items differs for staff alone
        lambda: {
            collection_id: count
            for collection_id, count in db.session.execute(
                db.select(Item.collection_id, db.func.count())
                .where(visible)
                .group_by(Item.collection_id)
            ).all()
        },
    )
    listed = [c for c in collections if counts.get(c.id) or viewer.is_staff]
    # With nothing featured (a new library), every collection is shown in full.
    in_full = {c.id for c in listed if c.featured} or {c.id for c in listed}
    items = _newest_items(
        {c.id: HOME_ITEMS if c.id in in_full else 1 for c in listed if counts.get(c.id)},
        visible,
    )
    recent = newest(viewer, HOME_RECENT)
    firsts = first_pages(
        [item.id for shown in items.values() for item in shown] + [i.id for i in recent]
    )
    shown = [
        (c, items.get(c.id, []) if c.id in in_full else [], counts.get(c.id, 0)) for c in listed
    ]
    covers = _covers(listed, items, firsts)
    return Markup(
        render_template(
            "public/_home.html", collections=shown, covers=covers, first_pages=firsts, recent=recent
        )
    )


def _newest_items(limits: dict[int, int], visible: ColumnElement[bool]) -> dict[int, list[Item]]:
    """The newest items of each collection, as many as its limit, in one statement: a
    part per collection, each read backwards along the listing index."""
    if not limits:
        return {}
    parts = [
        db.select(Item.id)
        .where(Item.collection_id == collection_id, visible)
        .order_by(Item.created_at.desc(), Item.id.desc())
        .limit(limit)
        .subquery()
        for collection_id, limit in limits.items()
    ]
    newest = union_all(*(db.select(part.c.id) for part in parts))
    found = db.session.execute(
        db.select(Item)
        .where(Item.id.in_(newest))
        .options(selectinload(Item.collection).selectinload(Collection.groups))
        .order_by(Item.created_at.desc(), Item.id.desc())
    ).scalars()
    items: dict[int, list[Item]] = {}
    for item in found:
        items.setdefault(item.collection_id, []).append(item)
    return items


def _covers(
    collections: list[Collection], items: dict[int, list[Item]], firsts: dict[str, Image]
) -> dict[int, Image]:
    """Each collection's page to show: its chosen cover, else its newest item's first page."""
    chosen = {c.cover_image_id for c in collections if c.cover_image_id}
    images = {
        image.id: image
        for image in db.session.execute(db.select(Image).where(Image.id.in_(chosen))).scalars()
    }
    covers: dict[int, Image] = {}
    for collection in collections:
        cover = images.get(collection.cover_image_id or "")
        if cover is None:
            cover = next(
                (firsts[i.id] for i in items.get(collection.id, []) if i.id in firsts), None
            )
        if cover is not None:
            covers[collection.id] = cover
    return covers


@bp.get("/collections/<slug>")
def collection(slug: str) -> str:
    found = db.first_or_404(db.select(Collection).filter_by(slug=slug))
    sort = "title" if request.args.get("sort") == "title" else ""
    # Each order is an index (ix_item_listing, ix_item_collection_title), and titles come
    # in Vietnamese order (services.collation). The total and where deep pages start are
    # kept per state of the catalogue and kind of viewer (visible_items' two rules).
    order = (Item.title_sort, Item.id) if sort else (Item.created_at, Item.id)
    viewer = current_viewer()
    page = paginate_kept(
        db.select(Item).where(Item.collection_id == found.id, visible_items(viewer)),
        ("collection-page", found.id, sort, viewer.is_staff),
        order,
        per_page=24,
    )
    firsts = first_pages(item.id for item in page.items)
    return render_template(
        "public/collection.html", collection=found, page=page, first_pages=firsts, sort=sort
    )


# Dublin Core elements in the order the item page lists them, each with its label.
DC_LABELS = {
    "title": _l("Title"),
    "creator": _l("Creator"),
    "contributor": _l("Contributor"),
    "date": _l("Date"),
    "publisher": _l("Publisher"),
    "subject": _l("Subjects"),
    "description": _l("Description"),
    "type": _l("Type"),
    "format": _l("Format"),
    "source": _l("Source"),
    "rights": _l("Rights"),
    "relation": _l("Relation"),
    "coverage": _l("Coverage"),
    "language": _l("Language"),
    "identifier": _l("Call number"),
}
# IIIF viewingDirection, as the item page names it.
DIRECTION_LABELS = {
    "left-to-right": _l("Left to right"),
    "right-to-left": _l("Right to left"),
    "top-to-bottom": _l("Top to bottom"),
    "bottom-to-top": _l("Bottom to top"),
}


def described(item: Item) -> list[tuple[str, str, list[dict[str, str]]]]:
    """The item's Dublin Core as (label, element, values): known elements in their order,
    with their label in the reader's language, then anything else as it was recorded."""
    rows = [(str(DC_LABELS[name]), name, item.dc[name]) for name in DC_LABELS if item.dc.get(name)]
    rows += [(name, name, values) for name, values in item.dc.items() if name not in DC_LABELS]
    return [row for row in rows if row[2]]


@bp.get("/items/<item_id>")
def item(item_id: str) -> str:
    found = db.get_or_404(Item, item_id)
    viewer = current_viewer()
    if not can_see_item(viewer, found):
        abort(404)
    urls = public_urls()
    # A record held elsewhere shows its institution's manifest, if it has one.
    manifest_url = found.remote_manifest or (urls.manifest(found.id) if found.images else "")
    state = reading(viewer, current_user.id if current_user.is_authenticated else None, found)
    settings = current_settings()
    linked = schema_org(found, urls, settings.library_name, settings.default_rights)
    previous, following = neighbours(found, viewer)
    shown_related = related(found, viewer)
    return render_template(
        "public/item.html",
        linked_data=Markup(json.dumps(linked, ensure_ascii=False).replace("<", "\\u003c")),
        share_image=linked.get("image", ""),
        item_page_url=urls.item_page(found.id),
        item=found,
        manifest_url=manifest_url,
        # Where this viewer gets no pixels of our images, a lock instead of a viewer of
        # broken thumbnails; a partner's manifest is for its own server to decide.
        shows_viewer=bool(manifest_url) and (state.sees_pixels or bool(found.remote_manifest)),
        reading=state,
        shows_banner=bool(found.images) and state.access is not Access.FULL,
        labels=STATUS_LABELS,
        description=described(found),
        direction=DIRECTION_LABELS.get(found.viewing_direction, DIRECTION_LABELS["left-to-right"]),
        rights=found.rights or settings.default_rights,
        embed_snippet=embed_snippet(found, manifest_url),
        citation=citation(found),
        # Only for images not open to all does the viewer send the access cookie.
        credentials_for=urls.image_url if public_access(found) != Access.FULL else "",
        can_download=bool(found.images) and can_download(viewer, found),
        previous=previous,
        following=following,
        related=shown_related,
        related_firsts=first_pages(i.id for i in shown_related),
        first_text=first_text(found) if can_read_text(viewer, found) else None,
    )


def embed_snippet(item: Item, manifest_url: str) -> str:
    """The HTML a partner pastes to show the item in our viewer on their own site."""
    urls = public_urls()
    embed_url = f"{urls.base}{url_for('viewer.embed', manifest=manifest_url)}"
    return (
        f'<iframe src="{escape(embed_url)}" width="100%" height="600" allowfullscreen '
        f'title="{escape(localized(item.title))}"></iframe>'
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
    body = pdf_or_job(found, get_storage(), current_settings().pdf_max_pages)  # or 413, 503
    if not isinstance(body, bytes):  # a worker is making it: come back for the file
        from ..errors import render_error

        title = _("Your PDF is being prepared")
        done = f" ({body.done}/{body.total})" if body.total else ""
        page, status, headers = render_error(202, title, _("Please try again in a moment.") + done)
        return Response(page, 202, {**headers, "Retry-After": "5", "Refresh": "5"})
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{found.id}.pdf"'
    return response
