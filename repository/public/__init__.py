"""Public pages for researchers: home, collections and items."""

from __future__ import annotations

import json
from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

from .. import get_storage
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
from ..services.access import Access, can_download, can_see_item, public_access, visible_items
from ..services.downloads import TooLarge, item_pdf
from ..services.linked_data import schema_org
from ..web import current_viewer, get_search, localized, public_urls, safe_next

bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> str:
    collections = db.session.execute(db.select(Collection).order_by(Collection.id)).scalars()
    shown = []
    for collection in collections:
        items = (
            db.session.execute(
                db.select(Item)
                .where(Item.collection_id == collection.id, visible_items(current_viewer()))
                .order_by(Item.created_at)
            )
            .scalars()
            .all()
        )
        if items or current_viewer().is_staff:
            shown.append((collection, items))
    return render_template("public/index.html", collections=shown)


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
    config = current_app.config
    linked = schema_org(found, urls, config["LIBRARY_NAME"], config["DEFAULT_RIGHTS"])
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
            db.select(Item).where(
                Item.id.in_([h.item_id for h in results.hits]), visible_items(viewer)
            )
        ).scalars()
    }
    hits = [(found[h.item_id], highlight(h.snippet)) for h in results.hits if h.item_id in found]
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
            for entry in facet["values"]  # type: ignore[attr-defined]
            if entry["chosen"]
        ],
        search_url=search_url,
    )


def search_url(**changes: object) -> str:
    """This search's URL with some arguments changed: None removes one, a pair toggles a value."""
    args = request.args.to_dict(flat=False)
    args.pop("page", None)
    for name, change in changes.items():
        if change is None:
            args.pop(name, None)
        elif isinstance(change, tuple):  # ("add" | "remove", value)
            action, value = change
            values = [v for v in args.get(name, []) if v != value]
            args[name] = [*values, str(value)] if action == "add" else values
        else:
            args[name] = [str(change)]
    return url_for("public.search", **args)


def facet_choices(results: Results, filters: Filters) -> list[dict[str, object]]:
    """Each facet with readable labels: collection titles, language names, centuries."""
    collections = {
        c.slug: localized(c.title) for c in db.session.execute(db.select(Collection)).scalars()
    }
    locale = get_locale()
    language_names = locale.languages if locale else {}

    def label(facet: str, value: str) -> str:
        if facet == "collection":
            return collections.get(value, value)
        if facet == "language":
            return str(language_names.get(value.replace("-", "_"), value))
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
        return _("before the Common Era")
    if str(get_locale() or "vi").startswith("vi"):  # Vietnamese counts centuries in Roman
        roman, left = "", number
        for value, letters in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
            while left >= value:
                roman, left = roman + letters, left - value
        return _("%(number)s century", number=roman)
    teen = 10 <= number % 100 <= 20
    suffix = "th" if teen else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return _("%(number)s century", number=f"{number}{suffix}")


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
        localized(current_app.config["LIBRARY_NAME"]),
        public_urls().item_page(item.id),
    ]
    accessed = _("accessed %(day)s", day=date.today().isoformat())
    return ". ".join(p for p in parts if p) + f" ({accessed})."


def highlight(snippet: str) -> Markup:
    """The snippet escaped, with the matches marked."""
    escaped = str(escape(snippet))
    return Markup(escaped.replace("[[", "<mark>").replace("]]", "</mark>"))


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
        "rights": found.rights or current_app.config["DEFAULT_RIGHTS"],
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
    try:
        body = item_pdf(found, get_storage(), int(current_app.config["PDF_MAX_PAGES"]))
    except TooLarge as exc:
        abort(413, str(exc))
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{found.id}.pdf"'
    return response


@bp.get("/health")
def health() -> tuple[str, int, dict[str, str]]:
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


def _storage_answers() -> None:
    storage = get_storage()
    root = getattr(storage, "root", None)
    if root is not None and not root.is_dir():
        raise FileNotFoundError(str(root))
    storage.exists("ready/probe")


def _database_state() -> str:
    """ "ok", or "read-only" when the database answers but would refuse every write."""
    import os
    from pathlib import Path

    from sqlalchemy import text

    db.session.execute(text("SELECT 1")).scalar_one()
    engine = db.engine
    if engine.dialect.name == "postgresql":
        setting = db.session.execute(text("SELECT current_setting('transaction_read_only')"))
        return "read-only" if setting.scalar() == "on" else "ok"
    if engine.dialect.name == "sqlite":
        if db.session.execute(text("PRAGMA query_only")).scalar():
            return "read-only"
        name = engine.url.database
        if name and name != ":memory:":  # SQLite writes the file and a journal beside it
            path = Path(name)
            if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
                return "read-only"
    return "ok"


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    """Ready when the database, the object storage and the search index all answer.

    A database that answers but refuses writes (a read-only file or disk, a standby) is
    reported as "read-only" and still counts as ready: readers are served, and taking
    every instance out of rotation would turn degraded writing into an outage.
    Stored manifests written for other base URLs than this site's are reported as
    "base-url-mismatch" and count as ready for the same reason: every instance shares
    them, and what mends them is `tangthu publish --all`, not a restart elsewhere.
    """
    from ..search import SearchRequest, parse_query
    from ..services.publish import base_state

    checks: dict[str, str] = {}
    for name, probe in (
        ("database", _database_state),
        ("storage", _storage_answers),
        (
            "search",
            lambda: get_search().search(SearchRequest(parse_query("ready"), limit=1, facets=False)),
        ),
        ("manifests", lambda: base_state(get_storage(), public_urls())),
    ):
        try:
            state = probe()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
            db.session.rollback()
            current_app.logger.warning("not ready: %s: %s", name, exc)
            checks[name] = f"unreachable: {type(exc).__name__}"
        else:
            checks[name] = state if isinstance(state, str) else "ok"
            if checks[name] != "ok":
                current_app.logger.warning("ready, but %s is %s", name, checks[name])
    degraded = ("ok", "read-only", "base-url-mismatch")
    status = 200 if all(v in degraded for v in checks.values()) else 503
    response = jsonify(checks)
    response.headers["Cache-Control"] = "no-store"
    return response, status


@bp.get("/lang/<code>")
def set_language(code: str) -> Response:
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("public.index")))


from . import opendata as _opendata  # noqa: E402,F401  (registers sitemaps and the export)
