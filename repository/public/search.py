"""Search: words with or without Vietnamese diacritics, narrowed by facets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Collection, Item
from ..search import (
    FACETS,
    MAX_QUERY,
    SORTS,
    Filters,
    Results,
    SearchRequest,
    parse_filters,
    parse_query,
)
from ..services.access import visible_items
from ..services.cataloguing import language_name
from ..services.collections import first_pages
from ..web import current_viewer, get_search, localized
from .blueprint import bp

# What url_for leaves unescaped in a query (werkzeug.urls._urlencode: the URL standard).
QUERY_SAFE = "!$'()*,/:;?@"


@bp.get("/search")
def search() -> str:
    """Find items by their words, with or without Vietnamese diacritics, and narrow by facets."""
    text = request.args.get("q", "")[:MAX_QUERY]
    page = request.args.get("page", "1")
    number = int(page) if page.isdigit() and 0 < len(page) < 6 else 1
    sort = request.args.get("sort", "relevance")
    sort = sort if sort in SORTS else "relevance"
    filters = parse_filters(request.args.to_dict(flat=False))
    viewer = current_viewer()
    size = 20
    wanted = SearchRequest(
        parse_query(text), filters, sort, (number - 1) * size, size, staff=viewer.is_staff
    )
    results = get_search().search(wanted)
    found = {
        i.id: i
        for i in db.session.execute(
            db.select(Item)
            .where(Item.id.in_([h.item_id for h in results.hits]), visible_items(viewer))
            # what each hit's thumbnail is decided by, read at once rather than per hit
            .options(joinedload(Item.collection).selectinload(Collection.groups))
        ).scalars()
    }
    hits = [(found[h.item_id], highlight(h.snippet)) for h in results.hits if h.item_id in found]
    firsts = first_pages(found)
    return render_template(
        "public/search.html",
        text=text,
        hits=hits,
        total=results.total,
        page=number,
        pages=max(1, -(-results.total // size)),
        empty=wanted.browsing and filters.empty,
        sort=wanted.order,
        filters=filters,
        facets=(facets := facet_choices(results, filters)),
        chips=[
            (facet["name"], entry["value"], entry["label"])
            for facet in facets
            if facet["name"] != "century"
            for entry in facet["values"]
            if entry["chosen"]
        ],
        search_url=links_from(request.args.to_dict(flat=False)),
        first_pages=firsts,
    )


def links_from(args: dict[str, list[str]]) -> Callable[..., str]:
    """``search_url``: this search's URL with some arguments changed (None removes one, a
    pair toggles a value). A search page links ~40 facet values: its path is worked out
    once, and each link is its query alone, encoded as ``url_for`` would encode it."""
    base = url_for("public.search")
    args = {name: values for name, values in args.items() if name != "page"}

    def search_url(**changes: object) -> str:
        changed = dict(args)
        for name, change in changes.items():
            if change is None:
                changed.pop(name, None)
            elif isinstance(change, tuple):  # ("add" | "remove", value)
                action, value = change
                values = [v for v in changed.get(name, []) if v != value]
                changed[name] = [*values, str(value)] if action == "add" else values
            else:
                changed[name] = [str(change)]
        pairs = [(name, value) for name, values in changed.items() for value in values]
        return f"{base}?{urlencode(pairs, safe=QUERY_SAFE)}" if pairs else base

    return search_url


def facet_choices(results: Results, filters: Filters) -> list[dict[str, Any]]:
    """Each facet with readable labels: collection titles, language names, centuries."""
    shown_slugs = [slug for slug, _count in results.facets.get("collection", ())]
    shown_slugs += filters.values("collection")
    collections = {  # only the collections the facet names, not every one
        slug: localized(title)
        for slug, title in db.session.execute(
            db.select(Collection.slug, Collection.title).where(Collection.slug.in_(shown_slugs))
        )
    }
    locale = str(get_locale() or "vi")

    def label(facet: str, value: str) -> str:
        if facet == "collection":
            return collections.get(value, value)
        if facet == "language":  # "Hán văn (lzh)", never the bare code
            return language_name(value, locale.split("_")[0])
        return value

    shown = []
    titles = {"collection": _("Collection"), "language": _("Language"), "type": _("Type")}
    for facet in FACETS:
        chosen = filters.values(facet)
        values = [
            {"value": v, "label": label(facet, v), "count": n, "chosen": v in chosen}
            for v, n in results.facets.get(facet, ())
        ]
        if values or chosen:
            shown.append({"name": facet, "title": titles[facet], "values": values})
    centuries = [
        {
            "label": century_label(int(value)),
            "count": count,
            "from": int(value) * 100,
            "to": int(value) * 100 + 99,
        }
        for value, count in sorted(results.facets.get("century", ()), key=lambda p: int(p[0]))
    ]
    if centuries:
        shown.append({"name": "century", "title": _("Date"), "values": centuries})
    return shown


def century_label(century: int) -> str:
    """Century 18 (the 1700s): "18th century" in English, "Thế kỷ XVIII" in Vietnamese."""
    number = century + 1
    if number <= 0:
        return str(_("before the Common Era"))
    if str(get_locale() or "vi").startswith("vi"):  # Vietnamese counts centuries in Roman
        roman, left = "", number
        for value, letters in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
            while left >= value:
                roman, left = roman + letters, left - value
        return str(_("%(number)s century", number=roman))
    teen = 10 <= number % 100 <= 20
    suffix = "th" if teen else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return str(_("%(number)s century", number=f"{number}{suffix}"))


def highlight(snippet: str) -> Markup:
    """The snippet escaped, with the matches marked."""
    escaped = str(escape(snippet))
    return Markup(escaped.replace("[[", "<mark>").replace("]]", "</mark>"))
