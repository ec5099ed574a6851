"""Fill a fresh instance with the generated catalogue, as rows, fast; then what pages need.

The schema is made from the models (``db.create_all``, as the test fixtures make it; the
migrations are checked against the models by tests/test_migrations.py). Rows go in with the
driver's bulk path: ``executemany`` in one transaction on SQLite, ``COPY`` on PostgreSQL.
Then the search index is rebuilt through the app's backend (``SqliteFts.rebuild``), and the
few items the measurements request are published through ``publish_item``, so their
stored manifests and sidecars are exactly what publishing writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from . import data

BATCH = 20_000


def _chunks(
    rows: Iterable[tuple[object, ...]], size: int = BATCH
) -> Iterator[list[tuple[object, ...]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _as_sqlalchemy_writes(row: tuple[object, ...]) -> tuple[object, ...]:
    """Datetimes as SQLAlchemy stores them in SQLite (always with microseconds), so that
    they compare as text with the values the app binds."""
    return tuple(
        value.isoformat(" ", timespec="microseconds") if isinstance(value, datetime) else value
        for value in row
    )


def _insert(raw: Any, postgres: bool, table: str, rows: Iterable[tuple[object, ...]]) -> int:
    """Rows into one table by the driver's bulk path; how many."""
    columns = data.COLUMNS[table]
    quoted = ", ".join(f'"{c}"' for c in columns)
    count = 0
    cursor = raw.cursor()
    if postgres:
        with cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    else:
        marks = ", ".join("?" for _ in columns)
        for chunk in _chunks(_as_sqlalchemy_writes(row) for row in rows):
            cursor.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', chunk)
            count += len(chunk)
    cursor.close()
    return count


def load(app: Any, catalogue: data.Catalogue, log: Any = print) -> dict[str, float]:
    """The whole catalogue into the app's database; seconds per step."""
    from repository.extensions import db

    timings: dict[str, float] = {}
    started = time.perf_counter()
    with app.app_context():
        db.create_all()
        postgres = db.engine.url.get_backend_name() == "postgresql"
        timings["schema_s"] = time.perf_counter() - started
        items = list(data.item_rows(catalogue))
        raw = db.engine.raw_connection()
        try:
            step = time.perf_counter()
            _insert(raw, postgres, "collection", data.collection_rows(catalogue))
            _insert(raw, postgres, "item", items)
            _insert(raw, postgres, "item_term", data.term_rows(items))
            timings["items_s"] = time.perf_counter() - step
            step = time.perf_counter()
            pages = _insert(raw, postgres, "image", data.image_rows(catalogue))
            timings["pages_s"] = time.perf_counter() - step
            step = time.perf_counter()
            events = _insert(raw, postgres, "event", data.event_rows(catalogue, items))
            if postgres:
                cursor = raw.cursor()
                for table in ("collection", "event"):
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f' (SELECT max(id) FROM "{table}"))'
                    )
                cursor.close()
            raw.commit()
            if postgres:  # what autovacuum does soon after a load this size
                raw.driver_connection.autocommit = True  # type: ignore[union-attr]
                cursor = raw.cursor()
                cursor.execute("VACUUM ANALYZE")
                cursor.close()
            timings["events_s"] = time.perf_counter() - step
        finally:
            raw.close()
        log(
            f"rows: {len(items):,} items, {pages:,} pages, {events:,} events in "
            f"{time.perf_counter() - started:.0f} s"
        )
        step = time.perf_counter()
        index_search(app, catalogue, items)
        timings["search_s"] = time.perf_counter() - step
        log(f"search index: {timings['search_s']:.0f} s")
    timings["total_s"] = time.perf_counter() - started
    return timings


def index_search(app: Any, catalogue: data.Catalogue, items: list[tuple[object, ...]]) -> None:
    """The app's own search backend, rebuilt from the documents publish would make."""
    from repository.web import get_search

    with app.test_request_context():
        get_search().rebuild(data.search_documents(catalogue, items))


def publish_few(app: Any, catalogue: data.Catalogue, how_many: int) -> list[str]:
    """Publish, through the app, a few open items with pages, spread over the catalogue."""
    from repository import get_storage
    from repository.extensions import db
    from repository.models import Item
    from repository.services.publish import publish_item
    from repository.web import publish_settings

    chosen: list[str] = []
    with app.test_request_context():
        settings = publish_settings()
        step = max(1, len(catalogue.ids) // (how_many * 4))
        for index in range(0, len(catalogue.ids), step):
            item = db.session.get(Item, catalogue.ids[index])
            if item is None or item.status != "published" or item.access != "open":
                continue
            if item.embargo_until is not None or not item.images:
                continue
            publish_item(item, get_storage(), settings)
            chosen.append(item.id)
            if len(chosen) >= how_many:
                break
    return chosen


def describe(path: Path, catalogue: data.Catalogue, published: list[str]) -> None:
    """What the measurements read back: slugs, counts, the published ids."""
    path.write_text(
        json.dumps(
            {"slugs": catalogue.slugs, "counts": catalogue.counts, "published": published},
            indent=1,
        )
    )
