"""IIIF Change Discovery 1.0: every Create, Update and Delete of a published manifest or
collection, oldest first, as an Activity Streams OrderedCollection in pages.

It reads the same change events as OAI-PMH and the sitemap. Staff-only and embargoed
items do not exist here either: their activities are left out until they are public.

Page n holds the visible events whose ids fall in the nth block of the page size: events
are only ever appended, so any page is read by a range of the primary key, and a page
keeps its place as the stream grows. A page may hold fewer activities than the page size
(those of items the public may not know of are left out).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response, abort, current_app
from sqlalchemy import and_, or_

from ..extensions import db
from ..models import Event, Item
from ..services.access import publicly_known_items
from ..services.collections import kept_while_renewed
from ..settings import current_settings
from ..web import public_urls
from .blueprint import bp, iiif_json

CONTEXT = "http://iiif.io/api/discovery/1/context.json"


def _visible_events() -> Any:
    """Events whose object may be shown: public items, withdrawn ones (their Delete and
    history), and collections."""
    # Each event's item is looked up by its key: no list of every public item is built.
    shown = db.select(Item.id).where(Item.id == Event.object_id, publicly_known_items())
    return db.select(Event).where(
        or_(
            Event.object_type == "Collection",
            and_(Event.object_type == "Manifest", shown.exists()),
        )
    )


def _page_size() -> int:
    return current_settings().discovery_page_size


def visible_event_count() -> int:
    """Every visible event (``totalItems``). Counting reads them all (0.2 s on SQLite, 1 s
    on PostgreSQL at 200,000 items), so the count is kept, and after a change to the
    catalogue it is renewed in the background while the last one is given: a moment
    behind, never a worker's threads waiting on it. Worked out ahead as a process starts
    (``repository.serve``)."""

    def count() -> int:  # the statement is built only when it is run, not per request
        statement = db.select(db.func.count()).select_from(_visible_events().subquery())
        return int(db.session.execute(statement).scalar_one())

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return int(kept_while_renewed(("discovery",), count, app))


def _pages() -> int:
    """How many pages there are: blocks of ids up to the newest event's, at least one."""
    newest = db.session.execute(db.select(db.func.max(Event.id))).scalar() or 0
    return max(1, -(-int(newest) // _page_size()))


def _url(tail: str) -> str:
    return f"{public_urls().base}/iiif/discovery/{tail}"


def _time(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


def _activity(event: Event) -> dict[str, Any]:
    urls = public_urls()
    if event.object_type == "Collection":
        target = {"id": urls.collection(event.object_id), "type": "Collection"}
    else:
        target = {"id": urls.manifest(event.object_id), "type": "Manifest"}
    return {
        "id": _url(f"activity/{event.id}"),
        "type": event.activity,
        "object": target,
        "endTime": _time(event.at),
    }


def _json(document: dict[str, Any]) -> Response:
    response = iiif_json(json.dumps(document, ensure_ascii=False).encode(), 3)
    response.headers["Content-Type"] = 'application/ld+json;profile="' + CONTEXT + '"'
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.get("/discovery/collection")
def discovery_collection() -> Response:
    total = visible_event_count()
    last = _pages() - 1
    document = {
        "@context": CONTEXT,
        "id": _url("collection"),
        "type": "OrderedCollection",
        "totalItems": total,
        "first": {"id": _url("page/0"), "type": "OrderedCollectionPage"},
        "last": {"id": _url(f"page/{last}"), "type": "OrderedCollectionPage"},
    }
    return _json(document)


@bp.get("/discovery/page/<int:number>")
def discovery_page(number: int) -> Response:
    size = _page_size()
    pages = _pages()
    if number >= pages:
        abort(404, "there is no such page of changes")
    events = db.session.execute(
        _visible_events()
        .where(Event.id > number * size, Event.id <= (number + 1) * size)
        .order_by(Event.id)
    ).scalars()
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": _url(f"page/{number}"),
        "type": "OrderedCollectionPage",
        "partOf": {"id": _url("collection"), "type": "OrderedCollection"},
        "orderedItems": [_activity(event) for event in events],
    }
    if number > 0:
        document["prev"] = {"id": _url(f"page/{number - 1}"), "type": "OrderedCollectionPage"}
    if number + 1 < pages:
        document["next"] = {"id": _url(f"page/{number + 1}"), "type": "OrderedCollectionPage"}
    return _json(document)


@bp.get("/discovery/activity/<int:event_id>")
def discovery_activity(event_id: int) -> Response:
    event = db.session.execute(_visible_events().where(Event.id == event_id)).scalar()
    if event is None:
        abort(404, "no such activity")
    return _json({"@context": CONTEXT, **_activity(event)})
