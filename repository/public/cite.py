"""Citation downloads (RIS, BibTeX, CSL-JSON) and the item page's Highwire tags."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Response, abort
from flask_babel import get_locale

from ..extensions import db
from ..models import Item
from ..services.access import can_see_item
from ..services.citation import Citation, bibtex, citation_of, csl_json, highwire, ris
from ..settings import current_settings
from ..web import current_viewer, localized, public_urls
from .blueprint import bp

FORMATS: dict[str, tuple[str, Callable[[Citation], str]]] = {
    "ris": ("application/x-research-info-systems; charset=utf-8", ris),
    "bib": ("application/x-bibtex; charset=utf-8", bibtex),
    "json": (
        "application/vnd.citationstyles.csl+json; charset=utf-8",
        lambda c: json.dumps(csl_json(c), ensure_ascii=False, indent=2) + "\n",
    ),
}


def item_citation(item: Item) -> Citation:
    return citation_of(
        item,
        public_urls().item_page(item.id),
        localized(current_settings().library_name),
        str(get_locale() or "vi"),
    )


@bp.app_template_global()
def citation_tags(item: Item) -> list[tuple[str, str]]:
    """The ``citation_*`` meta tags of an item page (the page has checked access)."""
    return highwire(item_citation(item))


@bp.get("/items/<item_id>/cite.<kind>")
def cite(item_id: str, kind: str) -> Response:
    """The item's citation as a file a reference manager imports."""
    if kind not in FORMATS:
        abort(404)
    found = db.session.get(Item, item_id) if len(item_id) <= 32 else None
    if found is None or not can_see_item(current_viewer(), found):
        abort(404)
    mimetype, write = FORMATS[kind]
    response = Response(write(item_citation(found)), content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{found.id}.{kind}"'
    return response
