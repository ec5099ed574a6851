"""The words recognised on an item's pages, beside the image on its page: the first page
with text when the page is shown, then any page the reader turns to (``page-text.json``)."""

from __future__ import annotations

import re

from flask import Response, abort, jsonify, request
from flask_babel import gettext as _

from ..api.text import language_tag
from ..extensions import db
from ..models import Image, Item, PageText
from ..search import HAN
from ..services.access import can_read_text, can_see_item
from ..services.ocr import is_vertical
from ..web import current_viewer
from .blueprint import bp

HAN_CHARACTER = re.compile(f"[{HAN}]")


def first_text(item: Item) -> dict[str, object] | None:
    """The panel's first page: the item's first page with recognised text, if any."""
    row = db.session.execute(
        db.select(PageText, Image)
        .join(Image, Image.id == PageText.image_id)
        .where(PageText.item_id == item.id, PageText.status == "done")
        .order_by(Image.position)
        .limit(1)
    ).first()
    if row is None:
        return None
    number = next((n for n, i in enumerate(item.images, 1) if i.id == row[1].id), 1)
    return page_text_body(item, row[1], number, row[0])


def page_text_body(
    item: Item, image: Image, number: int, text: PageText | None
) -> dict[str, object]:
    """One page's text as the panel shows it, in the item's reading direction: Han text of
    a book read in columns (recognised as vertical, or a right-to-left book) stays in columns."""
    words = text.text if text is not None and text.status == "done" else ""
    languages = text.languages if text is not None else ""
    columns = is_vertical(languages) or (
        item.viewing_direction in ("right-to-left", "top-to-bottom")
        and bool(HAN_CHARACTER.search(words))
    )
    return {
        "image": image.id,
        "page": number,
        "label": image.label or str(number),
        "text": words,
        "vertical": columns,
        "lang": language_tag(languages),
    }


@bp.get("/items/<item_id>/page-text.json")
def page_text(item_id: str) -> Response:
    """One page's recognised text for the item page's panel, by page number or image id."""
    found = db.get_or_404(Item, item_id)
    viewer = current_viewer()
    if not can_see_item(viewer, found):
        abort(404)
    if not can_read_text(viewer, found):
        abort(403, _("The text of this item is not open to you."))
    pages = db.session.execute(
        db.select(db.func.count()).select_from(Image).where(Image.item_id == found.id)
    ).scalar_one()
    image = _page_image(found, pages)
    number = db.session.execute(
        db.select(db.func.count())
        .select_from(Image)
        .where(Image.item_id == found.id, Image.position <= image.position)
    ).scalar_one()
    body = page_text_body(found, image, number, db.session.get(PageText, image.id))
    response = jsonify({**body, "pages": pages})
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


def _page_image(item: Item, pages: int) -> Image:
    """The page asked for by ?image=<id> or ?page=<number>, else 404."""
    wanted = request.args.get("image", "")
    if wanted:
        asked = db.session.get(Image, wanted[:32])
        if asked is None or asked.item_id != item.id:
            abort(404)
        return asked
    raw = request.args.get("page", "1")
    number = int(raw) if raw.isdigit() and len(raw) < 7 else 0
    if not 0 < number <= pages:
        abort(404)
    image: Image = db.session.execute(
        db.select(Image)
        .where(Image.item_id == item.id)
        .order_by(Image.position)
        .offset(number - 1)
        .limit(1)
    ).scalar_one()
    return image
