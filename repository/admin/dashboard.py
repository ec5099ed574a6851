"""The admin's front page (the item list: search, filters, sort, paging, bulk actions),
publishing one item, and the audit log.

The list reads one page of rows and one count, whatever the size of the catalogue: every
query parameter is checked first, sorts come from a fixed table, and no SQL is built from
what was typed (title words become bound patterns over ``Item.title_sort``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import ColumnElement, Row, and_
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from .. import get_storage
from ..extensions import db
from ..models import AuditEvent, Collection, Image, Item
from ..search import fold
from ..services.audit import record
from ..services.collation import sort_key
from ..services.publish import publish_item, withdraw_item
from ..web import client_address, publish_settings
from .blueprint import bp
from .catalogue import publish_recorded
from .forms import BulkForm, PublishForm

PER_PAGE = 50
MAX_QUERY = 200  # characters of a title search
MAX_WORDS = 8  # words of a title search: each is one more pattern over every row
MAX_PAGE_DIGITS = 7
MAX_COLLECTION_CHOICES = 1000  # collections offered in the filter
MAX_BULK = 100  # items one bulk action may change: two pages of the list
MAX_BACK = 1000  # characters of the list's address kept through a bulk action
STATUSES = {"draft": _l("Draft"), "published": _l("Published"), "withdrawn": _l("Withdrawn")}
ACCESS_BADGES = {
    "open": _l("Open access"),
    "degraded": _l("Reduced images"),
    "restricted": _l("Signed-in readers"),
    "onsite": _l("Reading room only"),
    "staff": _l("Staff only"),
}
SORTS = {"changed": _l("Newest changed"), "oldest": _l("Oldest changed"), "title": _l("Title")}
# The base letters whose marked forms are letters of their own in the collation key.
VARIANTS = {"a": "aăâ", "d": "dđ", "e": "eê", "o": "oôơ", "u": "uư"}
# Whole codes of the key's primary part (services.collation), up to its end mark "00":
# a pattern that follows them starts at a character, never inside one.
_CODES = "^(?:0[1-9a-z]|[12][0-9a-z]|[yz][0-9a-z]{4})*"
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What the list shows: every field already checked."""

    words: tuple[str, ...] = ()
    text: str = ""  # as typed, for the search box
    collection: int | None = None
    status: str = ""
    access: str = ""
    sort: str = "changed"
    page: int = 1

    def args(self, **changes: Any) -> dict[str, Any]:
        """The list's URL arguments without defaults: filters and sort survive paging."""
        query = replace(self, **changes)
        found = {
            "q": query.text,
            "collection": query.collection,
            "status": query.status,
            "access": query.access,
            "sort": "" if query.sort == "changed" else query.sort,
            "page": query.page if query.page > 1 else None,
        }
        return {key: value for key, value in found.items() if value}


def parse_list_query(args: Mapping[str, str]) -> ListQuery:
    """The list's parameters; odd values fall back to the defaults, a long search is refused."""
    text = " ".join(args.get("q", "").split())
    if len(text) > MAX_QUERY:
        abort(400, _("Search with at most %(num)d characters.", num=MAX_QUERY))
    words = tuple(dict.fromkeys(_WORD.findall(fold(text))))
    if len(words) > MAX_WORDS:
        abort(400, _("Search with at most %(num)d words.", num=MAX_WORDS))
    collection, page = args.get("collection", ""), args.get("page", "")
    return ListQuery(
        words=words,
        text=text,
        collection=int(collection) if collection.isdigit() and len(collection) < 10 else None,
        status=_known(args.get("status", ""), STATUSES),
        access=_known(args.get("access", ""), ACCESS_BADGES),
        sort=_known(args.get("sort", ""), SORTS) or "changed",
        page=max(1, int(page)) if page.isdigit() and len(page) <= MAX_PAGE_DIGITS else 1,
    )


def _known(value: str, allowed: Mapping[str, object]) -> str:
    return value if value in allowed else ""


def _codes(word: str) -> list[tuple[str, ...]]:
    """Each letter of a folded word as the collation codes it may stand for."""
    return [
        tuple(sort_key(variant)[:-3] for variant in VARIANTS.get(char, char))
        for char in word
        if char.isalnum()
    ]


def title_has(word: str) -> ColumnElement[bool]:
    """The word in the title, whatever its tones and marks: "nguyen" finds "Nguyễn".

    A LIKE pattern narrows the rows cheaply; the regular expression (Python's re on SQLite,
    ``~`` on PostgreSQL) keeps those where the word starts at a character's code.
    """
    codes = _codes(word)
    like = "".join(c[0] if len(c) == 1 else c[0][0] + "_" for c in codes)
    pattern = "".join(c[0] if len(c) == 1 else "(?:" + "|".join(c) + ")" for c in codes)
    return and_(Item.title_sort.like(f"%{like}%"), Item.title_sort.regexp_match(_CODES + pattern))


def _order(sort: str) -> tuple[Any, ...]:
    """Each order is an index: ix_item_changed for the dates, title_sort for titles."""
    if sort == "title":
        return (Item.title_sort, Item.id)
    if sort == "oldest":
        return (Item.updated_at, Item.id)
    return (Item.updated_at.desc(), Item.id.desc())


def _page_count() -> Any:
    """The number of pages of each item, counted in the same statement."""
    return (
        db.select(db.func.count(Image.id))
        .where(Image.item_id == Item.id)
        .correlate(Item)
        .scalar_subquery()
        .label("pages")
    )


@dataclass(frozen=True, slots=True)
class Listing:
    rows: Sequence[Row[Any]]
    total: int
    page: int
    pages: int


def list_items(query: ListQuery) -> Listing:
    """One page of the list and the number of items it selects: two statements."""
    where: list[ColumnElement[bool]] = [title_has(word) for word in query.words]
    if query.collection is not None:
        where.append(Item.collection_id == query.collection)
    if query.status:
        where.append(Item.status == query.status)
    if query.access:
        where.append(Item.access == query.access)
    total = db.session.scalar(db.select(db.func.count(Item.id)).where(*where)) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(query.page, pages)  # past the end: the last page
    rows = db.session.execute(
        db.select(
            Item.id,
            Item.title,
            Item.status,
            Item.access,
            Item.updated_at,
            Collection.title.label("collection_title"),
            Collection.slug.label("collection_slug"),
            _page_count(),
        )
        .join(Collection, Item.collection_id == Collection.id)
        .where(*where)
        .order_by(*_order(query.sort))
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return Listing(rows, total, page, pages)


def page_links(page: int, pages: int) -> list[int | None]:
    """The page numbers to link: the first, the last and two either side; None is a gap."""
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    links: list[int | None] = []
    for number in shown:
        if links and number - (links[-1] or 0) > 1:
            links.append(None)
        links.append(number)
    return links


@bp.get("/")
def index() -> str:
    """Every item as a table row, searched, filtered, sorted and paged."""
    query = parse_list_query(request.args)
    listing = list_items(query)
    collections = db.session.execute(
        db.select(Collection.id, Collection.title, Collection.slug)
        .order_by(Collection.slug)
        .limit(MAX_COLLECTION_CHOICES)
    ).all()
    return render_template(
        "admin/index.html",
        query=query,
        listing=listing,
        page_links=page_links(listing.page, listing.pages),
        collections=collections,
        statuses=STATUSES,
        access_badges=ACCESS_BADGES,
        sorts=SORTS,
        bulk_form=BulkForm(),
        back=request.query_string.decode("utf-8", "replace")[:MAX_BACK],
    )


@dataclass(frozen=True, slots=True)
class BulkChange:
    """A checked bulk action: one of the form's actions, on up to MAX_BULK items."""

    action: str
    label: str
    item_ids: tuple[str, ...]
    back: str  # the list's query string, to return to


def parse_bulk(form: BulkForm, posted: MultiDict[str, str]) -> BulkChange:
    """The action and items posted; an empty or unknown action or no items is refused."""
    labels = {choice.value: str(choice.label) for choice in form.action.choices}
    action = posted.get("action", "")
    if action not in labels:
        abort(400, _("Choose one of the actions for the selected items; nothing was changed."))
    ids = tuple(dict.fromkeys(i for i in posted.getlist("item") if 0 < len(i) <= 32))
    if not ids:
        abort(400, _("Select at least one item; nothing was changed."))
    if len(ids) > MAX_BULK:
        abort(400, _("Select at most %(num)d items at once; nothing was changed.", num=MAX_BULK))
    return BulkChange(action, labels[action], ids, posted.get("back", "")[:MAX_BACK])


def back_to_list(change: BulkChange) -> str:
    """The list the action was chosen on, rebuilt from its checked parameters."""
    try:
        query = parse_list_query(dict(parse_qsl(change.back)[:20]))
    except HTTPException:  # a search the list itself would refuse: the whole list
        query = ListQuery()
    return url_for("admin.index", **query.args())


def _outcome(change: BulkChange, status: str, access: str, pages: int) -> str | None:
    """What the action will do to one item; None: nothing."""
    if change.action == "publish":
        return _("Will be published") if pages else None
    if change.action == "withdraw":
        return _("Will be withdrawn") if status == "published" else None
    target = change.action.removeprefix("access:")
    if target == access:
        return None
    before, after = str(ACCESS_BADGES.get(access, access)), str(ACCESS_BADGES.get(target, target))
    described: str = _("Access: %(before)s → %(after)s", before=before, after=after)
    return described


def confirm_bulk(change: BulkChange) -> str:
    """The confirmation page: each item and what will happen to it."""
    rows = db.session.execute(
        db.select(Item.id, Item.title, Item.status, Item.access, _page_count())
        .where(Item.id.in_(change.item_ids))
        .order_by(Item.title_sort, Item.id)
    ).all()
    outcomes = [(row, _outcome(change, row.status, row.access, row.pages)) for row in rows]
    return render_template(
        "admin/index.html",
        change=change,
        outcomes=outcomes,
        changing=sum(1 for _row, outcome in outcomes if outcome),
        bulk_form=BulkForm(),
        statuses=STATUSES,
        access_badges=ACCESS_BADGES,
        cancel=back_to_list(change),
    )


def apply_bulk(change: BulkChange) -> Response:
    """Do the confirmed action to each item it changes, each change in the audit log."""
    found = db.select(Item).where(Item.id.in_(change.item_ids)).order_by(Item.id)
    items = db.session.execute(found).scalars().all()
    storage, settings, who = get_storage(), publish_settings(), current_user.username
    changed = 0
    for item in items:
        if change.action == "publish" and item.images:
            publish_item(item, storage, settings)
            record("publish", who, target=item.id, detail=item.access, address=client_address())
        elif change.action == "withdraw" and item.status == "published":
            withdraw_item(item, storage, settings)
            record("withdraw", who, target=item.id, address=client_address())
        elif change.action.startswith("access:") and item.access != change.action[7:]:
            before, item.access = item.access, change.action.removeprefix("access:")
            db.session.commit()
            detail = f"{before} -> {item.access}"
            record("access-changed", who, target=item.id, detail=detail, address=client_address())
            if item.status == "published":
                publish_item(item, storage, settings)
        else:
            continue
        changed += 1
    flash(ngettext("%(num)d item was changed.", "%(num)d items were changed.", changed))
    if changed < len(change.item_ids):
        left = len(change.item_ids) - changed
        flash(
            ngettext(
                "%(num)d item was left as it was.", "%(num)d items were left as they were.", left
            )
        )
    return redirect(back_to_list(change))


@bp.post("/items/<item_id>/publish")
def publish(item_id: str) -> Response:
    form = PublishForm()
    if not form.validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    item = db.get_or_404(Item, item_id)
    if not item.images:
        flash(_("An item needs at least one page before it can be published."))
        return redirect(url_for("admin.pages", item_id=item.id))
    publish_recorded(item)
    flash(_("Published."))
    return redirect(url_for("admin.edit_item", item_id=item.id))


@bp.get("/audit")
def audit() -> str:
    """The audit log, newest first: for administrators only."""
    if current_user.role != "admin":
        abort(403, _("Only administrators may read the audit log."))
    events = (
        db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(500))
        .scalars()
        .all()
    )
    return render_template("admin/audit.html", events=events)
