"""Browse the catalogue: by collection, date, subject, creator, place, title and newest.

Every listing is paged, and each page reads a bounded number of rows along an index:
titles along ``ix_item_title``, dates along ``ix_item_year``, the newest along each
collection's ``ix_item_listing``, a term's items along ``item_term``'s key. What counts the
whole catalogue (items by year, by title letter, by term) is worked out once per process
and kind of viewer, then renewed in the background after each change to the catalogue
(``kept_while_renewed``): a count may be a moment behind, the entries never are. Terms are
counted from their rows (``services.terms``), never from the items' JSON."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, abort, current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, literal_column, tuple_, union_all

from ..extensions import db
from ..models import Collection, Item, item_terms
from ..search import SearchRequest, parse_query
from ..services.access import ANONYMOUS, Viewer, visible_items
from ..services.collation import LETTERS, sort_key
from ..services.collections import Kept, first_pages, kept, kept_while_renewed
from ..services.terms import TERM_ELEMENTS, term_key, term_values
from ..web import current_viewer, get_search
from .blueprint import bp
from .search import century_label

log = logging.getLogger(__name__)
PAGE_SIZE = 24  # items on a page of any listing
TERMS_PAGE = 60  # subjects, creators or places on a page of their list
OVERVIEW_TERMS = 12  # of each kind on /browse
MAX_PAGE = 10_000  # a page number past this is refused, whatever the listing
RECENT_PAGES = 10  # "recently added" lists the newest PAGE_SIZE * RECENT_PAGES items
RELATED = 6  # items shown as related on an item page
TERM_TITLES = {"subject": _l("Subjects"), "creator": _l("Creators"), "place": _l("Places")}
TERMS_STORE = Kept(24)  # each kind's terms, the public's and staff's, a few states
# The A–Z bar: Vietnamese letters (f, j, w and z of foreign words too), digits, then Han.
INITIALS = tuple(letter.upper() for letter in LETTERS) + ("0–9", "漢")


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a listing: its items (or terms), its number, and how many pages."""

    entries: Sequence[Any]
    number: int
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class TermCounts:
    """One kind's terms that a kind of viewer sees, as (key, label, count): most used
    first, and in Vietnamese order of their labels; and each by its key."""

    by_count: tuple[tuple[str, str, int], ...]
    by_name: tuple[tuple[str, str, int], ...]
    keys: dict[str, tuple[str, int]]


def page_number() -> int:
    raw = request.args.get("page", "1")
    number = int(raw) if raw.isdigit() and len(raw) < 6 else 1
    if not 0 < number <= MAX_PAGE:
        abort(404)
    return number


def count_terms(kind: str, visible: ColumnElement[bool]) -> TermCounts:
    """The kind's terms of the visible items, counted along ``item_term``'s key."""
    rows = db.session.execute(
        db.select(
            item_terms.c.key,
            db.func.min(item_terms.c.label),
            db.func.min(item_terms.c.sort),
            db.func.count(),
        )
        .select_from(item_terms.join(Item, Item.id == item_terms.c.item_id))
        .where(item_terms.c.kind == kind, visible)
        .group_by(item_terms.c.key)
    ).all()
    by_name = sorted(rows, key=lambda row: (row[2], row[0]))
    by_count = sorted(by_name, key=lambda row: -row[3])
    return TermCounts(
        tuple((key, label, count) for key, label, _, count in by_count),
        tuple((key, label, count) for key, label, _, count in by_name),
        {key: (label, count) for key, label, _, count in rows},
    )


def _app() -> Flask:
    """This app, for the counts' renewals (services.collections.kept_while_renewed)."""
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]


def term_counts(kind: str, viewer: Viewer) -> TermCounts:
    # visible_items differs for staff alone, and the day is part of the catalogue's state
    return kept_while_renewed(
        ("browse-terms", kind, viewer.is_staff),
        lambda: count_terms(kind, visible_items(viewer)),
        store=TERMS_STORE,
        app=_app(),
    )


def term_list(counts: TermCounts, by_name: bool, number: int) -> Listing:
    """One page of a kind's terms, as (key, label, count)."""
    terms = counts.by_name if by_name else counts.by_count
    start = (number - 1) * TERMS_PAGE
    pages = max(1, -(-len(terms) // TERMS_PAGE))
    return Listing(terms[start : start + TERMS_PAGE], number, pages, len(terms))


def fetch(ids: Sequence[str], visible: ColumnElement[bool]) -> list[Item]:
    """These items, in this order, those still visible (the index may be a moment old)."""
    found = {
        item.id: item
        for item in db.session.execute(db.select(Item).where(Item.id.in_(ids), visible)).scalars()
    }
    return [found[i] for i in ids if i in found]


def paged(query: Any, number: int, total: int) -> Listing:
    """A page of ``query`` (already ordered along an index) with a total known beforehand."""
    items = db.session.execute(query.offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE)).scalars()
    return Listing(list(items), number, max(1, -(-total // PAGE_SIZE)), total)


def year_counts(viewer: Viewer) -> dict[int, int]:
    """Visible items by their first year: as many rows as distinct years, not items."""
    return kept_while_renewed(
        ("browse-years", viewer.is_staff),
        lambda: {
            year: count
            for year, count in db.session.execute(
                db.select(Item.year_start, db.func.count())
                .where(Item.year_start.is_not(None), visible_items(viewer))
                .group_by(Item.year_start)
            ).all()
        },
        app=_app(),
    )


def century_of(year: int) -> int:
    return year // 100  # the 1700s are century 17, as the search's facet counts them


def collection_counts(viewer: Viewer) -> dict[int, int]:
    return kept_while_renewed(
        ("browse-collections", viewer.is_staff),
        lambda: {
            collection_id: count
            for collection_id, count in db.session.execute(
                db.select(Item.collection_id, db.func.count())
                .where(visible_items(viewer))
                .group_by(Item.collection_id)
            ).all()
        },
        app=_app(),
    )


def initial_bounds(initial: str) -> tuple[str, str] | None:
    """The range of ``title_sort`` keys whose titles begin with this initial."""
    if initial == "0–9":
        return "1", "2"
    if initial == "漢":
        return "z", "{"
    letter = initial.lower()
    if len(letter) == 1 and letter in LETTERS:
        code = sort_key(letter)[:2]
        return code, code + "~"  # "~" sorts after every character a key holds
    return None


def initial_counts(viewer: Viewer) -> dict[str, int]:
    def count() -> dict[str, int]:
        # the same text in the list and the grouping (bound numbers would differ in them)
        prefix = db.func.substr(Item.title_sort, literal_column("1"), literal_column("2"))
        rows = db.session.execute(
            db.select(prefix, db.func.count()).where(visible_items(viewer)).group_by(prefix)
        ).all()
        counts = {"": sum(n for prefix, n in rows if prefix)}  # "": every title
        for initial in INITIALS:
            low, high = initial_bounds(initial) or ("", "")
            counts[initial] = sum(n for prefix, n in rows if low <= (prefix or "") < high)
        return counts

    return kept_while_renewed(("browse-initials", viewer.is_staff), count, _app())


def newest(viewer: Viewer, limit: int) -> list[Item]:
    """The ``limit`` newest items this viewer may see: each collection's newest, read
    backwards along its listing index, then merged (collections are few, items many). Which
    they are is kept per state of the catalogue (50 collections' reads were 11 ms of every
    /browse on PostgreSQL); the items are read fresh, with the viewer's access."""
    visible = visible_items(viewer)  # the same for every viewer who is not staff

    def newest_ids() -> list[str]:
        collection_ids = db.session.execute(db.select(Collection.id)).scalars().all()
        if not collection_ids or limit <= 0:
            return []
        parts = [
            db.select(Item.id, Item.created_at)
            .where(Item.collection_id == collection_id, visible)
            .order_by(Item.created_at.desc(), Item.id.desc())
            .limit(limit)
            .subquery()
            for collection_id in collection_ids
        ]
        merged = union_all(*(db.select(p.c.id, p.c.created_at) for p in parts)).subquery()
        ordered = db.select(merged.c.id).order_by(merged.c.created_at.desc(), merged.c.id.desc())
        return list(db.session.execute(ordered.limit(limit)).scalars())

    return fetch(kept(("newest", viewer.is_staff, limit), newest_ids), visible)


def render_listing(template: str, listing: Listing, **context: Any) -> str:
    firsts = first_pages(item.id for item in listing.entries if isinstance(item, Item))
    return render_template(template, listing=listing, first_pages=firsts, **context)


def page_url(endpoint: str, **args: Any) -> Callable[[int], str]:
    """A listing's URL for another page, keeping its other arguments."""
    return lambda number: url_for(endpoint, **args, page=number if number > 1 else None)


def count_ahead(app: Flask, *others: Callable[[], object]) -> threading.Thread:
    """Work out the public's counts in the background as a process starts (the repository
    as deployed does): the first visitor of /browse in each process would otherwise wait
    for them, 2-3 s at 200,000 items. Later changes renew them beside the requests.
    ``others``: more counts to work out then, each in the app's context."""

    def run() -> None:
        try:
            with app.app_context():
                for kind in TERM_ELEMENTS:
                    term_counts(kind, ANONYMOUS)
                year_counts(ANONYMOUS)
                collection_counts(ANONYMOUS)
                initial_counts(ANONYMOUS)
                for other in others:
                    other()
        except Exception:  # the first visitor works them out instead
            log.exception("could not count ahead for browsing")

    thread = threading.Thread(target=run, name="count-ahead", daemon=True)
    thread.start()
    return thread


@bp.get("/browse")
def browse() -> str:
    """Every way into the catalogue on one page, each with its first few entries."""
    viewer = current_viewer()
    counts = collection_counts(viewer)
    collections = db.session.execute(db.select(Collection).order_by(Collection.slug)).scalars()
    years = year_counts(viewer)
    centuries: dict[int, int] = {}
    for year, count in years.items():
        centuries[century_of(year)] = centuries.get(century_of(year), 0) + count
    return render_template(
        "public/browse.html",
        collections=[(c, counts[c.id]) for c in collections if counts.get(c.id)][:TERMS_PAGE],
        centuries=[(c, century_label(c), n) for c, n in sorted(centuries.items())],
        terms={kind: term_list(term_counts(kind, viewer), False, 1) for kind in TERM_ELEMENTS},
        overview_terms=OVERVIEW_TERMS,
        term_titles=TERM_TITLES,
        initials=initial_counts(viewer),
        recent=(recent := newest(viewer, 8)),
        first_pages=first_pages(item.id for item in recent),
    )


@bp.get("/browse/collections")
def browse_collections() -> str:
    counts = collection_counts(current_viewer())
    number = page_number()
    # Collections are few and read whole; only those with something to show are listed.
    rows = db.session.execute(db.select(Collection).order_by(Collection.slug)).scalars()
    shown = [(c, counts[c.id]) for c in rows if counts.get(c.id)]
    start = (number - 1) * TERMS_PAGE
    listing = Listing(
        shown[start : start + TERMS_PAGE], number, max(1, -(-len(shown) // TERMS_PAGE)), len(shown)
    )
    return render_template(
        "public/browse_collections.html",
        listing=listing,
        page_url=page_url("public.browse_collections"),
    )


def year_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    digits = raw.removeprefix("-")
    if not digits.isdigit() or len(digits) > 4:
        return None
    return -int(digits) if raw.startswith("-") else int(digits)


@bp.get("/browse/date")
def browse_date() -> str:
    """Centuries; a century's decades and items; a decade's items."""
    viewer = current_viewer()
    years = year_counts(viewer)
    century, decade = year_arg("century"), year_arg("decade")
    if decade is not None:
        century = century_of(decade)
        decade -= decade % 10
    centuries: dict[int, int] = {}
    for year, count in years.items():
        centuries[century_of(year)] = centuries.get(century_of(year), 0) + count
    context: dict[str, Any] = {
        "centuries": [(c, century_label(c), n) for c, n in sorted(centuries.items())],
        "century": century,
        "decade": decade,
    }
    if century is None:
        return render_template("public/browse_date.html", listing=None, **context)
    decades: dict[int, int] = {}
    for year, count in years.items():
        if century_of(year) == century:
            decades[year - year % 10] = decades.get(year - year % 10, 0) + count
    low, high = (decade, decade + 9) if decade is not None else (century * 100, century * 100 + 99)
    total = sum(n for year, n in years.items() if low <= year <= high)
    query = (
        db.select(Item)
        .where(
            Item.year_start >= low,
            Item.year_start <= high,
            visible_items(viewer, ordered_elsewhere=True),
        )
        .order_by(Item.year_start, Item.title_sort, Item.id)  # along ix_item_year
    )
    return render_listing(
        "public/browse_date.html",
        paged(query, page_number(), total),
        decades=sorted(decades.items()),
        century_name=century_label(century),
        page_url=page_url("public.browse_date", century=century, decade=decade),
        **context,
    )


@bp.get("/browse/title")
def browse_title() -> str:
    """A–Z by title, in Vietnamese order, along the title index."""
    viewer = current_viewer()
    counts = initial_counts(viewer)
    initial = request.args.get("letter", "")
    bounds = initial_bounds(initial)
    if initial and bounds is None:
        abort(404)
    low, high = bounds or ("0", "~")  # every key but the empty one, as a range of ix_item_title
    conditions = [
        visible_items(viewer, ordered_elsewhere=True),
        Item.title_sort >= low,
        Item.title_sort < high,
    ]
    total = counts.get(initial, 0)
    query = db.select(Item).where(*conditions).order_by(Item.title_sort, Item.id)
    return render_listing(
        "public/browse_title.html",
        paged(query, page_number(), total),
        initials=counts,
        letter=initial,
        page_url=page_url("public.browse_title", letter=initial or None),
    )


@bp.get("/browse/recent")
def browse_recent() -> str:
    """The newest items, a bounded number of pages of them."""
    number = page_number()
    if number > RECENT_PAGES:
        abort(404)
    newest_items = newest(current_viewer(), number * PAGE_SIZE + 1)
    shown = newest_items[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    more = len(newest_items) > number * PAGE_SIZE and number < RECENT_PAGES
    listing = Listing(shown, number, number + 1 if more else number, len(newest_items))
    return render_listing(
        "public/browse_recent.html", listing, page_url=page_url("public.browse_recent")
    )


@bp.get("/browse/<any(subject, creator, place):kind>")
def browse_terms(kind: str) -> str:
    """A kind's terms with their counts; or, given a term, its items in title order."""
    viewer = current_viewer()
    counts = term_counts(kind, viewer)
    number = page_number()
    wanted = request.args.get("term", "")
    if not wanted:
        by_name = request.args.get("sort") == "name"
        return render_template(
            "public/browse_terms.html",
            kind=kind,
            title=TERM_TITLES[kind],
            listing=term_list(counts, by_name, number),
            by_name=by_name,
            page_url=page_url("public.browse_terms", kind=kind, sort="name" if by_name else None),
        )
    key = term_key(wanted)
    if key not in counts.keys:
        abort(404)
    label, total = counts.keys[key]
    query = (
        db.select(Item)
        .join(item_terms, item_terms.c.item_id == Item.id)
        .where(
            item_terms.c.kind == kind,
            item_terms.c.key == key,
            visible_items(viewer, ordered_elsewhere=True),
        )
        .order_by(item_terms.c.title_sort, item_terms.c.item_id)  # along ix_item_term_titles
    )
    return render_listing(
        "public/browse_term.html",
        paged(query, number, total),
        kind=kind,
        title=TERM_TITLES[kind],
        term=label,
        page_url=page_url("public.browse_terms", kind=kind, term=label),
    )


# -- from an item: its neighbours in its collection, and related items ---------------------


def neighbours(item: Item, viewer: Viewer) -> tuple[Item | None, Item | None]:
    """The visible items before and after this one in its collection page's order (date
    added, then id), each the first entry read along ``ix_item_listing``."""
    visible = visible_items(viewer)
    same = Item.collection_id == item.collection_id
    # A row comparison, which both databases read as a range of the index (the same test
    # spelled with OR filtered 17,000 entries on PostgreSQL: 3.4 ms against 0.05 ms).
    place = tuple_(Item.created_at, Item.id)
    before = place < tuple_(item.created_at, item.id)
    after = place > tuple_(item.created_at, item.id)
    previous = db.session.execute(
        db.select(Item)
        .where(same, before, visible)
        .order_by(Item.created_at.desc(), Item.id.desc())
        .limit(1)
    ).scalar()
    following = db.session.execute(
        db.select(Item).where(same, after, visible).order_by(Item.created_at, Item.id).limit(1)
    ).scalar()
    return previous, following


def related(item: Item, viewer: Viewer) -> list[Item]:
    """A few visible items sharing a subject or a creator with this one, found by the
    search index (a phrase per term, a few terms, a few hits each), never a scan."""
    terms = term_values(item.dc, ("subject",))[:2] + term_values(item.dc, ("creator",))[:1]
    ids: list[str] = []
    for term in terms:
        phrase = parse_query(f'"{term.replace(chr(34), " ")}"')
        if phrase.empty:
            continue
        results = get_search().search(
            SearchRequest(phrase, limit=RELATED + 1, staff=viewer.is_staff, facets=False)
        )
        ids += [h.item_id for h in results.hits if h.item_id != item.id and h.item_id not in ids]
    return fetch(ids, visible_items(viewer))[:RELATED]
