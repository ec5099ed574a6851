"""Digitisation progress against the national programme's targets.

Each collection has a programme category; curators enter what the library physically
holds in each category (``ProgrammeHoldings``). The figures are grouped counts over
items and pages, so they stay one query each however many items there are.

- digitised: pages ingested here (an item counts once it has a page);
- published: of those, the pages of items that are published now, by their publish date;
- with text: pages whose text recognition is done.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, literal_column

from ...extensions import db
from ...models import Collection, Image, Item, PageText, ProgrammeHoldings
from ..errors import ServiceError


class Category(StrEnum):
    ANCIENT_RARE = "ancient_rare"
    LOCAL_HISTORY = "local_history"
    THESES_RESEARCH = "theses_research"
    OTHER = "other"


CATEGORY_LABELS = {
    Category.ANCIENT_RARE: _l("Ancient, rare and specially valuable documents"),
    Category.LOCAL_HISTORY: _l("Local-history documents"),
    Category.THESES_RESEARCH: _l("Theses and research works"),
    Category.OTHER: _l("Other"),
}
# The programme's targets, in percent of holdings digitised; "other" has none.
TARGETS: Mapping[Category, int] = {
    Category.ANCIENT_RARE: 70,
    Category.LOCAL_HISTORY: 100,
    Category.THESES_RESEARCH: 70,
}
MAX_PROJECTION_MONTHS = 1200  # past a hundred years a date means nothing
PACE_MONTHS = 6  # the current pace: pages digitised per month over the last six months
MAX_COUNT = 10**9  # a count past this is a typing mistake, not a library


@dataclass(frozen=True, slots=True)
class Holdings:
    category: Category
    titles: int
    pages: int
    counted_on: date
    note: str = ""


@dataclass(frozen=True, slots=True)
class Figures:
    titles_digitised: int = 0
    pages_digitised: int = 0
    titles_published: int = 0
    pages_published: int = 0
    titles_text: int = 0
    pages_text: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(a + b for a, b in zip(_fields(self), _fields(other), strict=True)))


def _fields(figures: Figures) -> tuple[int, ...]:
    return (
        figures.titles_digitised,
        figures.pages_digitised,
        figures.titles_published,
        figures.pages_published,
        figures.titles_text,
        figures.pages_text,
    )


@dataclass(frozen=True, slots=True)
class Projection:
    """When the target is reached at the current pace."""

    state: str  # reached, on_pace, beyond, stalled, no_target, no_holdings
    pace: float = 0.0  # pages digitised per month
    month: date | None = None  # for on_pace: the month the target is reached


@dataclass(frozen=True, slots=True)
class Progress:
    category: Category | None  # None: the library as a whole
    figures: Figures
    holdings: Holdings | None
    target: int | None
    projection: Projection

    @property
    def percent_titles(self) -> float | None:
        return _percent(
            self.figures.titles_digitised, self.holdings.titles if self.holdings else None
        )

    @property
    def percent_pages(self) -> float | None:
        return _percent(
            self.figures.pages_digitised, self.holdings.pages if self.holdings else None
        )


def _percent(part: int, whole: int | None) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True, slots=True)
class MonthPoint:
    month: date
    pages_digitised: int = 0
    pages_published: int = 0

    @property
    def label(self) -> str:
        return f"{self.month:%m/%y}"


@dataclass(frozen=True, slots=True)
class Dashboard:
    start: date
    end: date
    categories: list[Progress]
    overall: Progress
    months: list[MonthPoint] = field(default_factory=list)


# -- holdings ---------------------------------------------------------------------------


def parse_holdings(
    category: str, titles: str, pages: str, counted_on: str, note: str = ""
) -> Holdings:
    """A count as typed in a form; every bad field is a reason, with a 400."""
    problems: dict[str, str] = {}
    try:
        chosen = Category(category)
    except ValueError:
        problems["category"] = _("Choose one of the programme's categories.")
    numbers: dict[str, int] = {}
    for name, value in (("titles", titles), ("pages", pages)):
        text = value.strip().replace(",", "").replace(".", "")
        if not text.isdigit() or int(text) > MAX_COUNT:
            problems[name] = _("Enter a whole number from 0 to %(most)s.", most=f"{MAX_COUNT:,}")
        else:
            numbers[name] = int(text)
    try:
        day = date.fromisoformat(counted_on.strip())
        if day > date.today():
            problems["counted_on"] = _("The day counted cannot be in the future.")
    except ValueError:
        problems["counted_on"] = _("Enter the day counted as YYYY-MM-DD.")
    if len(note) > 1000:
        problems["note"] = _("The note is longer than 1,000 characters.")
    if problems:
        raise ServiceError(_("The holdings were not saved."), fields=problems)
    return Holdings(chosen, numbers["titles"], numbers["pages"], day, note.strip())


def enter_holdings(holdings: Holdings, entered_by: str) -> None:
    db.session.add(
        ProgrammeHoldings(
            category=holdings.category.value,
            titles=holdings.titles,
            pages=holdings.pages,
            counted_on=holdings.counted_on,
            note=holdings.note,
            entered_by=entered_by,
        )
    )
    db.session.commit()


def current_holdings(as_of: date | None = None) -> dict[Category, Holdings]:
    """The newest count of each category (counted on or before ``as_of``)."""
    query = db.select(ProgrammeHoldings).order_by(
        ProgrammeHoldings.counted_on, ProgrammeHoldings.id
    )
    if as_of is not None:
        query = query.where(ProgrammeHoldings.counted_on <= as_of)
    newest: dict[Category, Holdings] = {}
    for row in db.session.execute(query).scalars():  # a few rows a year per category
        try:
            category = Category(row.category)
        except ValueError:
            continue
        newest[category] = Holdings(category, row.titles, row.pages, row.counted_on, row.note)
    return newest


def set_category(collection_id: int, category: str) -> Collection:
    try:
        chosen = Category(category)
    except ValueError:
        raise ServiceError(_("Choose one of the programme's categories.")) from None
    found = db.session.get(Collection, collection_id)
    if found is None:
        raise ServiceError(_("There is no such collection."))
    found.programme_category = chosen.value
    db.session.commit()
    return found


# -- figures ----------------------------------------------------------------------------


def _category(value: str | None) -> Category:
    try:
        return Category(value or "other")
    except ValueError:
        return Category.OTHER


def _before(end: date) -> datetime:
    return datetime.combine(end + timedelta(days=1), time())


def _pages_per_item(limit: datetime, since: datetime | None = None) -> Any:
    """Pages per item (and month, with ``since``), as a subquery: grouped by item before
    any join, so a join looks up each item once rather than once per page. With no
    bounds that matter (the period ends today) it reads the item index alone."""
    columns: list[Any] = [Image.item_id.label("item_id"), func.count(Image.id).label("pages")]
    query = db.select(*columns).group_by(Image.item_id)
    if since is not None:
        month = _month_of(Image.created_at)
        query = db.select(*columns, month.label("month")).group_by(Image.item_id, month)
        query = query.where(Image.created_at >= since)
    if since is not None or limit <= datetime.now(UTC).replace(tzinfo=None):
        query = query.where(Image.created_at < limit)
    return query.subquery()


def _month_of(stamp: Any) -> Any:
    """'YYYY-MM' of a timestamp, in the database's own words (one call per row). The format
    is literal SQL, not a parameter, so that GROUP BY repeats the selected expression."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(stamp, literal_column("'YYYY-MM'"))
    return func.strftime(literal_column("'%Y-%m'"), stamp)


def _by_category(query: Any, item_id: Any) -> Any:
    return query.join(Item, Item.id == item_id).join(
        Collection, Item.collection_id == Collection.id
    )


def figures_by_category(end: date) -> dict[Category, Figures]:
    """Titles and pages digitised, published and with text, as of the end of ``end``."""
    limit = _before(end)
    category = Collection.programme_category
    published = db.and_(Item.status == "published", Item.published_at < limit)
    pages = _pages_per_item(limit)
    page_rows = db.session.execute(
        _by_category(
            db.select(
                category,
                func.count(),
                func.sum(pages.c.pages),
                func.count(db.case((published, 1))),
                func.sum(db.case((published, pages.c.pages), else_=0)),
            ).select_from(pages),
            pages.c.item_id,
        ).group_by(category)
    ).all()
    texts = (
        db.select(PageText.item_id.label("item_id"), func.count().label("pages"))
        .where(PageText.status == "done", PageText.updated_at < limit)
        .group_by(PageText.item_id)
        .subquery()
    )
    text_rows = db.session.execute(
        _by_category(
            db.select(category, func.count(), func.sum(texts.c.pages)).select_from(texts),
            texts.c.item_id,
        ).group_by(category)
    ).all()
    found: dict[Category, Figures] = defaultdict(Figures)
    for name, titles, total, titles_out, pages_out in page_rows:
        found[_category(name)] += Figures(titles, int(total), titles_out, int(pages_out or 0))
    for name, titles, total in text_rows:
        found[_category(name)] += Figures(titles_text=titles, pages_text=int(total))
    return {c: found.get(c, Figures()) for c in Category}


def _months(start: date, end: date) -> list[date]:
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def monthly_pages(start: date, end: date) -> dict[Category, list[MonthPoint]]:
    """Pages digitised and published in each month from ``start`` to ``end``, by category.

    Published pages are counted in the month of the item's latest publication."""
    begin, limit = datetime.combine(start.replace(day=1), time()), _before(end)
    category = Collection.programme_category
    new_pages = _pages_per_item(limit, since=begin)
    digitised_query = _by_category(
        db.select(category, new_pages.c.month, func.sum(new_pages.c.pages)).select_from(new_pages),
        new_pages.c.item_id,
    ).group_by(category, new_pages.c.month)
    pages = _pages_per_item(limit)
    published_month = _month_of(Item.published_at)
    published_query = (
        _by_category(
            db.select(category, published_month, func.sum(pages.c.pages)).select_from(pages),
            pages.c.item_id,
        )
        .where(Item.status == "published", Item.published_at >= begin, Item.published_at < limit)
        .group_by(category, published_month)
    )

    def counted(query: Any) -> dict[tuple[Category, date], int]:
        counts: dict[tuple[Category, date], int] = defaultdict(int)
        for name, month, number in db.session.execute(query):
            year, _, month_number = str(month).partition("-")
            counts[(_category(name), date(int(year), int(month_number), 1))] += int(number)
        return counts

    digitised, published = counted(digitised_query), counted(published_query)
    months = _months(start, end)
    return {
        c: [MonthPoint(m, digitised.get((c, m), 0), published.get((c, m), 0)) for m in months]
        for c in Category
    }


def overall_months(by_category: Mapping[Category, list[MonthPoint]]) -> list[MonthPoint]:
    rows = list(zip(*by_category.values(), strict=True))
    return [
        MonthPoint(
            points[0].month,
            sum(p.pages_digitised for p in points),
            sum(p.pages_published for p in points),
        )
        for points in rows
    ]


def project(
    category: Category | None,
    figures: Figures,
    holdings: Holdings | None,
    pace: float,
    end: date,
) -> Projection:
    """The month the target's pages are reached, at ``pace`` pages a month from ``end``."""
    target = TARGETS.get(category) if category is not None else None
    if target is None:
        return Projection("no_target", pace)
    if holdings is None or not holdings.pages:
        return Projection("no_holdings", pace)
    remaining = math.ceil(holdings.pages * target / 100) - figures.pages_digitised
    if remaining <= 0:
        return Projection("reached", pace)
    if pace <= 0:
        return Projection("stalled", pace)
    months = math.ceil(remaining / pace)
    if months > MAX_PROJECTION_MONTHS:
        return Projection("beyond", pace)
    index = end.year * 12 + end.month - 1 + months
    month = date(index // 12, index % 12 + 1, 1)
    return Projection("on_pace", pace, month)


def _pace(points: Iterable[MonthPoint]) -> float:
    recent = list(points)[-PACE_MONTHS:]
    return sum(p.pages_digitised for p in recent) / PACE_MONTHS


def dashboard(start: date, end: date) -> Dashboard:
    """Every category's progress as of ``end``, and the months from ``start`` to ``end``."""
    if start > end:
        raise ServiceError(_("The period starts after it ends."))
    figures = figures_by_category(end)
    holdings = current_holdings(end)
    pace_start = (end.replace(day=1) - timedelta(days=31 * (PACE_MONTHS - 1))).replace(day=1)
    by_category = monthly_pages(min(start, pace_start), end)
    paces = {category: _pace(points) for category, points in by_category.items()}
    rows = [
        Progress(
            category,
            figures[category],
            holdings.get(category),
            TARGETS.get(category),
            project(category, figures[category], holdings.get(category), paces[category], end),
        )
        for category in Category
    ]
    total = sum((row.figures for row in rows), Figures())
    held = list(holdings.values())
    whole = (
        Holdings(Category.OTHER, sum(h.titles for h in held), sum(h.pages for h in held), end)
        if held
        else None
    )
    overall = Progress(None, total, whole, None, Projection("no_target", sum(paces.values())))
    first = start.replace(day=1)
    months = [p for p in overall_months(by_category) if p.month >= first]
    return Dashboard(start, end, rows, overall, months)
