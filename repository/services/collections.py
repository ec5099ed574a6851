"""IIIF collections from the database: the top collection, and each collection, paged."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask_sqlalchemy.pagination import Pagination, SelectPagination
from sqlalchemy import Select, and_, func, or_, tuple_

from manifests import CanvasRecord, CollectionRecord, ManifestSummary, language_map

from ..extensions import db
from ..models import Collection, Event, Image, Item
from .access import ANONYMOUS, Viewer, shows_thumbnails, visible_items
from .errors import NotFound

if TYPE_CHECKING:
    from flask import Flask

T = TypeVar("T")
log = logging.getLogger(__name__)


def top_collection(label: dict[str, str]) -> CollectionRecord:
    """Every collection without a parent; ``label`` is the library's name."""
    roots = db.session.execute(
        db.select(Collection).where(Collection.parent_id.is_(None)).order_by(Collection.slug)
    ).scalars()
    summary = {
        "vi": f"Các bộ sưu tập của {label['vi']}" if label.get("vi") else "",
        "en": f"The collections of {label['en']}" if label.get("en") else "",
    }
    return CollectionRecord(
        slug="top",
        label=language_map(label),
        summary=language_map(summary) if any(summary.values()) else None,
        children=tuple((c.slug, language_map(c.title)) for c in roots),
    )


def _counted(total: int) -> dict[str, str]:
    """What a collection without a description of its own says about itself."""
    items = "item" if total == 1 else "items"
    return {"vi": f"Bộ sưu tập gồm {total} tài liệu.", "en": f"A collection of {total} {items}."}


def first_pages(item_ids: Iterable[str]) -> dict[str, Image]:
    """The first page of each of these items that has one, in one statement: a listing
    never loads every page of every item (a book may have thousands).

    Each page is then read along the (item, position) index. The LIMIT, one row per id
    at most, is there for PostgreSQL's planner: without it, it guessed 28 times too many
    first pages and read the whole image table instead (400 ms a page of a thousand
    IIIF manifests at 2,000,000 pages)."""
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        return {}
    first = (
        db.select(Image.item_id, func.min(Image.position).label("position"))
        .where(Image.item_id.in_(ids))
        .group_by(Image.item_id)
        .limit(len(ids))
        .subquery()
    )
    found = db.session.execute(
        db.select(Image).join(
            first, and_(Image.item_id == first.c.item_id, Image.position == first.c.position)
        )
    ).scalars()
    return {image.item_id: image for image in found}


def _summary(item: Item, first: Image | None) -> ManifestSummary:
    # No thumbnail for images the public cannot see: it would only be a refused request.
    first = first if first is not None and shows_thumbnails(ANONYMOUS, item) else None
    thumb = CanvasRecord(first.id, {"none": [""]}, first.width, first.height) if first else None
    return ManifestSummary(item.id, language_map(item.title), thumb)


def collection_record(
    collection: Collection, viewer: Viewer, page: int | None, page_size: int
) -> CollectionRecord:
    """A collection's sub-collections and published items; past page_size, in pages."""
    query = (
        db.select(Item)
        .where(
            Item.collection_id == collection.id,
            Item.status == "published",
            visible_items(viewer),
            # Catalogue records without pages have no manifest to list.
            or_(Item.remote_manifest != "", Item.images.any()),
        )
        .order_by(Item.created_at, Item.id)
    )
    # Counting reads the whole collection: once per state of the catalogue.
    total = counted(
        ("iiif-collection", collection.id, viewer.is_staff),
        query.with_only_columns(db.func.count()).order_by(None),
    )
    pages = max(1, math.ceil(total / page_size))
    label = language_map(collection.title)
    # Every collection has a description (2.1 validators ask for one): the curators',
    # or else how many items it holds.
    summary = language_map(
        collection.description if any(collection.description.values()) else _counted(total)
    )
    if page is None and pages > 1:
        children = tuple((c.slug, language_map(c.title)) for c in collection.children)
        pages_of = tuple(range(1, pages + 1))
        return CollectionRecord(
            slug=collection.slug, label=label, summary=summary, children=children, pages=pages_of
        )
    if page is not None and not 1 <= page <= pages:
        raise NotFound(f"this collection has pages 1 to {pages}")
    offset = ((page or 1) - 1) * page_size
    items = db.session.execute(query.offset(offset).limit(page_size)).scalars().all()
    firsts = first_pages(item.id for item in items)
    children = () if page else tuple((c.slug, language_map(c.title)) for c in collection.children)
    return CollectionRecord(
        slug=collection.slug,
        label=label,
        summary=summary,
        children=children,
        page=page,
        manifests=tuple(_summary(item, firsts.get(item.id)) for item in items),
    )


# -- answers that would read the whole catalogue, kept until the catalogue changes --------


class Kept:
    """Answers by key, at most ``limit`` of them (all dropped at once past it), and the
    keys being worked out right now, each with the lock its first asker holds."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.answers: dict[tuple[object, ...], object] = {}
        self.building: dict[tuple[object, ...], threading.Lock] = {}
        self.lock = threading.Lock()


COUNTS = Kept(512)  # small numbers and dicts of them
BODIES = Kept(48)  # rendered documents, up to a few hundred kilobytes each


def catalogue_state() -> tuple[object, ...]:
    """What every public listing depends on, each read from the end of an index: the newest
    change to an item's row (every write sets updated_at; items are withdrawn, never
    deleted), the newest event, and the day (embargoes end)."""
    changed = db.session.execute(db.select(func.max(Item.updated_at))).scalar()
    newest_event = db.session.execute(db.select(func.max(Event.id))).scalar()
    return (str(db.engine.url), changed, newest_event, date.today())


def counted(name: tuple[object, ...], statement: Select[Any]) -> int:
    """``statement``'s count, asked once per state of the catalogue in this process:
    ``name`` holds everything else that changes the answer (who asks, which set...)."""
    return int(kept(name, lambda: db.session.execute(statement).scalar_one()))


def kept(name: tuple[object, ...], compute: Callable[[], T], store: Kept = COUNTS) -> T:
    """``compute()``, kept for as long as the catalogue's state (``catalogue_state``) and
    ``name`` stay the same.

    Only the first asker of a key computes it; the others of this process wait for its
    answer. A count over every event takes a second on PostgreSQL at 200,000 items, and
    eight threads starting it at once were the p95 of the pages that need it."""
    return _kept((*name, *catalogue_state()), compute, store)


SHARED_LIMIT = 256  # files in the shared folder; the oldest go past it


def kept_shared(name: tuple[object, ...], compute: Callable[[], bytes], folder: Path) -> bytes:
    """A document as ``kept`` keeps it in ``BODIES``, and also shared with the app's other
    processes through a file per key in ``folder``: the first process to build it writes
    it, the others read it (a page of 1,000 manifests took each gunicorn worker its own
    100-1,000 ms build, the p95 of those pages at 200,000 items).

    The file's name is a hash of the key, which holds the catalogue's state: a change to
    the catalogue names new files, and the old ones are removed past ``SHARED_LIMIT``."""
    key = (*name, *catalogue_state())

    def from_file_or_built() -> bytes:  # only when this process does not have it
        path = folder / f"{hashlib.sha256(repr(key).encode()).hexdigest()}.body"
        try:
            return path.read_bytes()
        except OSError:
            pass
        body = compute()
        try:
            _write_shared(folder, path, body)
        except OSError:  # a full or read-only disk: this process keeps its own copy
            log.warning("could not share %s in %s", name[0], folder, exc_info=True)
        return body

    return _kept(key, from_file_or_built, BODIES)


def _write_shared(folder: Path, path: Path, body: bytes) -> None:
    """Whole or not at all (written beside, then renamed), then the oldest files past the
    limit removed."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(body)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    files = list(folder.glob("*.body"))
    if len(files) > SHARED_LIMIT:
        by_age = sorted(files, key=_modified)
        for old in by_age[: len(files) - SHARED_LIMIT]:
            old.unlink(missing_ok=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed by another process meanwhile
        return 0.0


def _kept(key: tuple[object, ...], compute: Callable[[], T], store: Kept) -> T:
    with store.lock:
        if key in store.answers:
            return cast(T, store.answers[key])
        building = store.building.setdefault(key, threading.Lock())
    try:
        with building:
            with store.lock:
                if key in store.answers:  # worked out while this thread waited
                    return cast(T, store.answers[key])
            value = compute()
            with store.lock:
                if len(store.answers) >= store.limit:
                    store.answers.clear()
                store.answers[key] = value
    finally:
        with store.lock:
            if store.building.get(key) is building and not building.locked():
                del store.building[key]
    return value


class Renewed:
    """The latest answer of each name in this process, with the catalogue's state it was
    worked out for, and the threads working out newer ones."""

    def __init__(self) -> None:
        self.latest: dict[tuple[object, ...], tuple[tuple[object, ...], object]] = {}
        self.renewing: dict[tuple[object, ...], threading.Thread] = {}
        self.lock = threading.Lock()

    def wait(self, timeout: float = 30.0) -> None:
        """Until the renewals running now are done (tests, and a tidy shutdown)."""
        with self.lock:
            running = list(self.renewing.values())
        for thread in running:
            thread.join(timeout)


RENEWED = Renewed()


def kept_while_renewed(
    name: tuple[object, ...], compute: Callable[[], T], app: Flask, store: Kept = COUNTS
) -> T:
    """``compute()`` as ``kept`` keeps it, except that once this process has an answer for
    ``name``, a newer state of the catalogue gets that answer at once while one thread
    works out the new one in the background, in an app context of ``app``.

    For what reads the whole catalogue and may be a moment behind it: browsing's counts by
    term, year and letter took 0.1-0.7 s each at 200,000 items, after every change to any
    item. The entries they lead to are read fresh, with the viewer's access, every time."""
    key = (*name, str(db.engine.url))
    state = catalogue_state()
    with RENEWED.lock:
        found = RENEWED.latest.get(key)
        if found is not None:
            if found[0] != state and key not in RENEWED.renewing:
                RENEWED.renewing[key] = _renewal(key, compute, app)
            return cast(T, found[1])
    value = kept(name, compute, store)  # the first answer: here, once per process
    with RENEWED.lock:
        RENEWED.latest.setdefault(key, (state, value))
    return value


def _renewal(key: tuple[object, ...], compute: Callable[[], T], app: Flask) -> threading.Thread:

    def renew() -> None:
        try:
            with app.app_context():
                state = catalogue_state()
                value = compute()
            with RENEWED.lock:
                RENEWED.latest[key] = (state, value)
        except Exception:  # the answer before stays; the next request tries again
            log.exception("could not renew %s", key[0])
        finally:
            with RENEWED.lock:
                RENEWED.renewing.pop(key, None)

    thread = threading.Thread(target=renew, name="renew-counts", daemon=True)
    thread.start()
    return thread


class _Kept(SelectPagination):
    """``db.paginate``'s page, with its total asked once per state of the catalogue, and
    pages past the first few found by where they start rather than by skipping rows."""

    def _query_items(self) -> list[Any]:
        statement, order = self._query_args["select"], self._query_args["order"]
        if self.page <= self._query_args["seek_from"]:
            return super()._query_items()
        starts = kept(
            (*self._query_args["name"], "starts", self.per_page),
            lambda: page_starts(statement, order, self.per_page),
        )
        if self.page > len(starts):
            return []
        start = starts[self.page - 1]
        if any(value is None for value in start):  # NULLs do not compare: skip rows
            return super()._query_items()
        seek = statement.where(tuple_(*order) >= tuple_(*start)).limit(self.per_page)
        return list(db.session.execute(seek).scalars())

    def _query_count(self) -> int:
        listed = self._query_args["select"].order_by(None).subquery()
        return counted(self._query_args["name"], db.select(func.count()).select_from(listed))


def page_starts(
    statement: Select[Any], order: tuple[Any, ...], per_page: int
) -> list[tuple[object, ...]]:
    """The ``order`` values of the first row of every page of ``statement``: one walk of the
    index for all the pages, instead of one for each deep page (at 40,000 items in one
    collection, the last page skipped 40,000 rows: 45 ms on PostgreSQL, each time)."""
    numbered = (
        statement.order_by(None)
        .with_only_columns(*order, func.row_number().over(order_by=order).label("n"))
        .subquery()
    )
    columns = list(numbered.c)[: len(order)]
    rows = db.session.execute(
        db.select(*columns).where((numbered.c.n - 1) % per_page == 0).order_by(numbered.c.n)
    ).all()
    return [tuple(row) for row in rows]


def paginate_kept(
    statement: Select[Any],
    name: tuple[object, ...],
    order: tuple[Any, ...],
    per_page: int,
    seek_from: int = 10,
) -> Pagination:
    """``db.paginate(statement.order_by(*order), per_page=per_page)``, the page number from
    the request, but what reads every row listed kept by ``kept`` under ``name`` (which must
    hold whatever else the statement depends on): the total, and, for pages past
    ``seek_from``, where each page starts. ``order`` must make the order total (end with
    the primary key)."""
    return _Kept(
        select=statement.order_by(*order),
        session=db.session(),
        name=name,
        order=order,
        per_page=per_page,
        seek_from=seek_from,
    )
