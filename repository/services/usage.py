"""Usage statistics after COUNTER Release 5.1: investigations and requests of items.

A request (a PDF download) is also an investigation, as COUNTER counts them. Events are
kept in memory per process (``Recorder``) and written in batches by a background thread,
by count or time, and at exit: a page never waits for the database.

- robots and machines are left out with the COUNTER robots list (``counter_robots``);
- a double click (the same client, item and action within 30 seconds) counts once: first
  in the process's memory, then again where batches are written (``store``), against the
  last use kept in ``UsageClick``, so that clicks landing on different processes (gunicorn
  workers, the image server) count once too;
- no IP address is stored: a user-session is a hash of the day's salt, the address, the
  user agent and the hour (COUNTER's session rule when there is no session id); the salt
  is random, one a day, and deleted the day after (late batches may still need it).

Totals are the sum of ``UsageCount.hits``; uniques are its rows (one per item, month,
metric and session).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import counter_robots
from sqlalchemy import func, text
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Collection, Item, UsageClick, UsageCount, UsageSalt

log = logging.getLogger(__name__)

INVESTIGATION = "investigation"
REQUEST = "request"
DOUBLE_CLICK_SECONDS = 30.0
# Last uses older than this (behind a batch's oldest event) are deleted as batches are
# written: a batch that waits longer than this somewhere may count a double click twice.
CLICK_HORIZON = timedelta(minutes=10)
METRICS = (
    "Total_Item_Investigations",
    "Unique_Item_Investigations",
    "Total_Item_Requests",
    "Unique_Item_Requests",
)


@lru_cache(maxsize=4096)
def is_robot(user_agent: str) -> bool:
    """A robot, crawler or machine by the COUNTER list; no user agent counts as one."""
    return not user_agent.strip() or bool(counter_robots.is_robot_or_machine(user_agent))


@dataclass(frozen=True, slots=True)
class Hit:
    """One successful use of an item, as the request said it: kept in memory only."""

    at: datetime  # UTC, naive
    item_id: str
    metric: str  # investigation or request
    action: str  # what was asked for (the view), for double clicks
    client: str  # the address: hashed at write, never stored
    agent: str


@dataclass(frozen=True, slots=True)
class UsageSettings:
    recording: bool = True
    batch: int = 500  # events that make a write at once
    flush_seconds: float = 5.0  # the longest an event waits in memory


class Recorder:
    """Buffers hits in memory and hands them to ``write`` in batches, off the request."""

    def __init__(self, write: Callable[[list[Hit]], None], settings: UsageSettings) -> None:
        self.write = write
        self.settings = settings
        self._hits: list[Hit] = []
        self._last: dict[tuple[str, str, str, str], float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid = 0  # the process the flusher runs in (a fork has none)

    def record(self, hit: Hit, now: float | None = None) -> bool:
        """Keep a hit unless it is a robot's or a double click; True if kept. ``now`` is
        the click's time in seconds (by default the hit's own: a batch from the image
        server holds clicks of different times)."""
        if is_robot(hit.agent):
            return False
        now = hit.at.replace(tzinfo=UTC).timestamp() if now is None else now
        key = (hit.client, hit.agent, hit.item_id, hit.action)
        with self._lock:
            last = self._last.get(key)
            self._last[key] = now
            if last is not None and now - last < DOUBLE_CLICK_SECONDS:
                return False
            self._hits.append(hit)
            full = len(self._hits) >= self.settings.batch
        if self._pid != os.getpid():
            self._start()
        if full:
            self._wake.set()
        return True

    def flush(self) -> int:
        """Write what is buffered now; the number of hits written."""
        with self._lock:
            hits, self._hits = self._hits, []
            horizon = time.time() - DOUBLE_CLICK_SECONDS
            if len(self._last) > 10_000:
                self._last = {k: t for k, t in self._last.items() if t > horizon}
        if hits:
            try:
                self.write(hits)
            except Exception:  # statistics must never take the site down
                log.exception("usage: %d events could not be written", len(hits))
                return 0
        return len(hits)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        threading.Thread(target=self._run, name="usage-flush", daemon=True).start()
        atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.settings.flush_seconds)
            self._wake.clear()
            self.flush()


# -- writing ------------------------------------------------------------------------------


def _salt(day: date) -> str:
    """The day's salt, made by whichever process asks first; older salts are deleted."""
    found = db.session.get(UsageSalt, day)
    if found is None:
        db.session.add(UsageSalt(day=day, salt=secrets.token_hex(32)))
        try:
            db.session.flush()
        except Exception:  # another process made it first
            db.session.rollback()
        found = db.session.get(UsageSalt, day)
        assert found is not None
    return found.salt


def session_of(salt: str, hit: Hit) -> str:
    """COUNTER's user-session without a session id: address, agent, day and hour, hashed."""
    material = f"{salt}\x00{hit.client}\x00{hit.agent}\x00{hit.at:%Y-%m-%d %H}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def click_of(salt: str, hit: Hit) -> str:
    """The double-click key: the user (address and agent), item and action, hashed."""
    material = f"{salt}\x00click\x00{hit.client}\x00{hit.agent}\x00{hit.item_id}\x00{hit.action}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _insert() -> Any:
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert


def _lock_clicks(horizon: datetime) -> None:
    """Hold the write lock for the batch, before anything is read: a batch being written
    by another process waits, so two processes never both see "no click yet"."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE usage_click IN SHARE ROW EXCLUSIVE MODE"))
    # On SQLite this first write opens the transaction and takes the database's write lock.
    db.session.execute(db.delete(UsageClick).where(UsageClick.at < horizon))


def _first_clicks(hits: Sequence[Hit], salts: dict[date, str]) -> list[Hit]:
    """The hits that are no double click of a use already written, by any process, or of
    an earlier hit of this batch; the last use of each key is kept for the next batches."""
    keys = [click_of(salts[hit.at.date()], hit) for hit in hits]
    last: dict[str, datetime] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        found = db.session.execute(
            db.select(UsageClick.key, UsageClick.at).where(UsageClick.key.in_(chunk))
        ).all()
        last.update({key: at for key, at in found})
    window = timedelta(seconds=DOUBLE_CLICK_SECONDS)
    kept, changed = [], set()
    for key, hit in zip(keys, hits, strict=True):
        previous = last.get(key)
        # abs(): another process's batch may have written a later click of the same user.
        if previous is None or abs(hit.at - previous) >= window:
            kept.append(hit)
        if previous is None or hit.at > previous:
            last[key] = hit.at
            changed.add(key)
    if changed:
        insert = _insert()
        table = db.metadata.tables[UsageClick.__tablename__]
        statement = insert(table)
        upsert = statement.on_conflict_do_update(
            index_elements=["key"], set_={"at": statement.excluded.at}
        )
        db.session.connection().execute(upsert, [{"key": k, "at": last[k]} for k in changed])
    return kept


def store(hits: Sequence[Hit]) -> None:
    """Add hits to the counts, one upsert per row; every row of the batch or none.

    Double clicks are left out here as well as in each process's recorder: the batch holds
    the write lock while it compares its hits with the last uses that every process wrote.
    """
    if not hits:
        return
    ordered = sorted(hits, key=lambda hit: hit.at)
    _lock_clicks(ordered[0].at - CLICK_HORIZON)
    salts = {day: _salt(day) for day in {hit.at.date() for hit in ordered}}
    counts: dict[tuple[date, str, str, str], int] = defaultdict(int)
    for hit in _first_clicks(ordered, salts):
        session = session_of(salts[hit.at.date()], hit)
        month = hit.at.date().replace(day=1)
        counts[(month, hit.item_id, INVESTIGATION, session)] += 1
        if hit.metric == REQUEST:
            counts[(month, hit.item_id, REQUEST, session)] += 1
    rows = [
        {"month": m, "item_id": i, "metric": k, "session": s, "hits": n}
        for (m, i, k, s), n in counts.items()
    ]
    if rows:
        table = db.metadata.tables[UsageCount.__tablename__]
        statement = _insert()(table)
        upsert = statement.on_conflict_do_update(
            index_elements=["month", "item_id", "metric", "session"],
            set_={"hits": table.c.hits + statement.excluded.hits},
        )
        db.session.connection().execute(upsert, rows)  # Core's executemany: no ORM per row
    oldest = min(salts) - timedelta(days=1)
    db.session.execute(db.delete(UsageSalt).where(UsageSalt.day < oldest))
    db.session.commit()


# -- reports ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """The four COUNTER metrics of one item (or collection) in one month."""

    month: date
    total_investigations: int = 0
    unique_investigations: int = 0
    total_requests: int = 0
    unique_requests: int = 0

    @property
    def label(self) -> str:
        return f"{self.month:%m/%y}"

    def metrics(self) -> dict[str, int]:
        values = (
            self.total_investigations,
            self.unique_investigations,
            self.total_requests,
            self.unique_requests,
        )
        return dict(zip(METRICS, values, strict=True))


def month_range(begin: date, end: date) -> list[date]:
    months, month = [], begin.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def usage_by_item(begin: date, end: date) -> dict[str, dict[date, Usage]]:
    """Every item's usage in each month from ``begin`` to ``end``: one grouped query."""
    rows = db.session.execute(
        db.select(
            UsageCount.item_id,
            UsageCount.month,
            UsageCount.metric,
            func.sum(UsageCount.hits),
            func.count(),
        )
        .where(UsageCount.month >= begin.replace(day=1), UsageCount.month <= end)
        .group_by(UsageCount.item_id, UsageCount.month, UsageCount.metric)
    ).all()
    counts: dict[str, dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 4))
    for item_id, month, metric, total, unique in rows:
        offset = 0 if metric == INVESTIGATION else 2
        counts[item_id][month][offset : offset + 2] = [int(total), int(unique)]
    return {
        item_id: {month: Usage(month, *values) for month, values in by_month.items()}
        for item_id, by_month in counts.items()
    }


@dataclass(frozen=True, slots=True)
class ItemUsage:
    item_id: str
    title: dict[str, str]
    collection: str  # the collection's slug
    months: dict[date, Usage]

    def total(self) -> Usage:
        return add_up(self.months.values(), date.min)


def add_up(usages: Iterable[Usage], month: date) -> Usage:
    totals = [0, 0, 0, 0]
    for usage in usages:
        for index, value in enumerate(usage.metrics().values()):
            totals[index] += value
    return Usage(month, *totals)


def item_report(begin: date, end: date, shown: Callable[[Item], bool]) -> list[ItemUsage]:
    """The item report (IR): items with usage in the period that ``shown`` lets through,
    most investigated first. ``shown`` is the access rule's answer for the reader."""
    by_item = usage_by_item(begin, end)
    items: list[ItemUsage] = []
    ids = sorted(by_item)
    for start in range(0, len(ids), 500):
        found = db.session.execute(
            db.select(Item)
            .where(Item.id.in_(ids[start : start + 500]))
            .options(selectinload(Item.collection).selectinload(Collection.groups))
        ).scalars()
        for item in found:
            if shown(item):
                items.append(ItemUsage(item.id, item.title, item.collection.slug, by_item[item.id]))
    items.sort(key=lambda i: (-i.total().total_investigations, i.item_id))
    return items


def collection_report(items: Iterable[ItemUsage]) -> dict[str, dict[date, Usage]]:
    """The title/collection report: the items' usage added up by collection and month."""
    months: dict[str, dict[date, list[Usage]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        for month, usage in item.months.items():
            months[item.collection][month].append(usage)
    return {
        slug: {month: add_up(usages, month) for month, usages in sorted(by_month.items())}
        for slug, by_month in sorted(months.items())
    }


def collection_titles() -> dict[str, dict[str, str]]:
    rows = db.session.execute(db.select(Collection.slug, Collection.title)).all()
    return {slug: title for slug, title in rows}


def monthly_totals(items: Iterable[ItemUsage], months: Sequence[date]) -> list[Usage]:
    by_month: dict[date, list[Usage]] = defaultdict(list)
    for item in items:
        for month, usage in item.months.items():
            by_month[month].append(usage)
    return [add_up(by_month.get(month, []), month) for month in months]


def sushi_item_report(
    items: Sequence[ItemUsage],
    begin: date,
    end: date,
    institution: str,
    item_url: Callable[[str], str],
    created: datetime,
) -> dict[str, object]:
    """The report as COUNTER_SUSHI 5.1's Item Report (IR) JSON."""
    months = [m.isoformat()[:7] for m in month_range(begin, end)]
    report_items = []
    for item in items:
        performance = {
            metric: {
                m.isoformat()[:7]: value
                for m, usage in sorted(item.months.items())
                if (value := usage.metrics()[metric])
            }
            for metric in METRICS
        }
        report_items.append(
            {
                "Item": item.title.get("vi") or next(iter(item.title.values()), item.item_id),
                "Item_ID": {
                    "Proprietary": f"tangthu:{item.item_id}",
                    "URI": item_url(item.item_id),
                },
                "Platform": "Tàng Thư",
                "Publisher": institution,
                "Attribute_Performance": [
                    {
                        "Data_Type": "Book",
                        "Access_Method": "Regular",
                        "Performance": {k: v for k, v in performance.items() if v},
                    }
                ],
            }
        )
    return {
        "Report_Header": {
            "Release": "5.1",
            "Report_ID": "IR",
            "Report_Name": "Item Report",
            "Institution_Name": institution,
            "Created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Created_By": "Tàng Thư",
            "Report_Filters": {
                "Begin_Date": months[0] if months else begin.isoformat()[:7],
                "End_Date": months[-1] if months else end.isoformat()[:7],
                "Metric_Type": list(METRICS),
                "Access_Method": ["Regular"],
            },
            "Exceptions": [],
        },
        "Report_Items": report_items,
    }
