"""Recognised text: the pages' annotations and ALTO, and IIIF Content Search 2.0 and 1.0.

Words on a page are as open as its image: whoever may see the image in full may read
and search its text; anyone else gets a 401 (the image's auth services tell them how to
sign in), and staff-only items do not exist (404).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, request

from .. import get_storage
from ..extensions import db
from ..models import Image, Item, PageText
from ..search import MAX_QUERY
from ..services.access import can_read_text
from ..services.content_search import (
    Page,
    autocomplete_v1,
    autocomplete_v2,
    complete,
    find,
    search_v1,
    search_v2,
    text_annotations,
)
from ..web import current_viewer, public_urls
from .blueprint import bp, iiif_json, visible_item

# Tesseract's language codes, as BCP 47 tags for the text bodies.
LANGUAGE_TAGS = {
    "vie": "vi",
    "eng": "en",
    "fra": "fr",
    "chi_tra": "zh-Hant",
    "chi_tra_vert": "zh-Hant",
    "chi_sim": "zh-Hans",
    "jpn": "ja",
}


def _readable_item(item_id: str) -> Item:
    item = visible_item(item_id)
    if not can_read_text(current_viewer(), item):
        abort(401, "sign in as a reader allowed to see this item's pages to read their text")
    return item


def _pages(item: Item) -> list[Page]:
    rows = db.session.execute(
        db.select(PageText, Image.position)
        .join(Image, Image.id == PageText.image_id)
        .where(PageText.item_id == item.id, PageText.status == "done")
        .order_by(Image.position)
    ).all()
    return [Page(text.image_id, text.words, language_tag(text.languages)) for text, _ in rows]


def language_tag(languages: str) -> str:
    first = languages.split("+")[0]
    return LANGUAGE_TAGS.get(first, "")


def _query() -> str:
    return request.args.get("q", "")[:MAX_QUERY]


def _ignored() -> list[str]:
    """Parameters the specification defines that we do not filter by."""
    return [name for name in ("motivation", "date", "user") if name in request.args]


def _json(document: dict[str, Any], version: int) -> Response:
    body = json.dumps(document, ensure_ascii=False).encode()
    response = iiif_json(body, version, public=False)
    response.headers["Content-Type"] = "application/json"
    return response


@bp.get("/<item_id>/search")
def content_search(item_id: str) -> Response:
    item = _readable_item(item_id)
    text = _query()
    return _json(search_v2(public_urls(), item.id, text, find(_pages(item), text), _ignored()), 3)


@bp.get("/<item_id>/search/1")
def content_search_1(item_id: str) -> Response:
    item = _readable_item(item_id)
    text = _query()
    return _json(search_v1(public_urls(), item.id, text, find(_pages(item), text), _ignored()), 2)


@bp.get("/<item_id>/autocomplete")
def autocomplete(item_id: str) -> Response:
    item = _readable_item(item_id)
    prefix = _query()
    return _json(autocomplete_v2(public_urls(), item.id, prefix, complete(_pages(item), prefix)), 3)


@bp.get("/<item_id>/autocomplete/1")
def autocomplete_1(item_id: str) -> Response:
    item = _readable_item(item_id)
    prefix = _query()
    return _json(autocomplete_v1(public_urls(), item.id, prefix, complete(_pages(item), prefix)), 2)


def _page_text(item_id: str, image_id: str) -> tuple[Item, PageText]:
    item = _readable_item(item_id)
    text = db.session.get(PageText, image_id)
    if text is None or text.item_id != item.id or text.status != "done":
        abort(404, "this page has no recognised text")
    return item, text


@bp.get("/<item_id>/canvas/<image_id>/text/annotations")
def page_annotations(item_id: str, image_id: str) -> Response:
    item, text = _page_text(item_id, image_id)
    page = Page(text.image_id, text.words, language_tag(text.languages))
    return _json(text_annotations(public_urls(), item.id, page), 3)


@bp.get("/<item_id>/canvas/<image_id>/text/list")
def page_annotation_list(item_id: str, image_id: str) -> Response:
    item, text = _page_text(item_id, image_id)
    page = Page(text.image_id, text.words, language_tag(text.languages))
    return _json(text_annotations(public_urls(), item.id, page, version=2), 2)


@bp.get("/<item_id>/canvas/<image_id>/text/alto.xml")
def page_alto(item_id: str, image_id: str) -> Response:
    _item, text = _page_text(item_id, image_id)
    try:
        body = get_storage().get_bytes(text.alto_key)
    except KeyError:
        abort(404, "this page has no recognised text")
    return Response(
        body,
        content_type="application/xml; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
