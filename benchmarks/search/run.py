"""Search latency: SQLite FTS5 at 100,000 items, beside a LIKE scan measured in the same run.

    .venv/bin/python benchmarks/search/run.py [--items 100000] [--queries 300]
    .venv/bin/python benchmarks/search/run.py --items 2000 --queries 30   # smoke test
    .venv/bin/python benchmarks/search/run.py --explain                  # where the time goes
    .venv/bin/python benchmarks/search/run.py --start-opensearch         # and OpenSearch beside it
    .venv/bin/python benchmarks/search/run.py --opensearch http://127.0.0.1:9200

1. N seeded items with Vietnamese metadata (``data.py``) are indexed into ``SqliteFts`` on a
   fresh SQLite file with ``rebuild()`` in batches of 1,000; the rate is items/s.
2. Four kinds of query, ``--queries`` of each, shuffled together so that noise from other
   sessions falls on all kinds alike: words typed without diacritics, "phrases" in double
   quotes, a word with facet choices and/or a year range, and "han": 2–4 Hán or Nôm
   characters that stand together in a title (some titles carry their Hán form). Each is
   timed with ``time.perf_counter`` around ``backend.search(SearchRequest(...))`` as the search page
   asks (facets on, 20 hits, not staff). Target: p95 under 50 ms at 100,000 items.
3. The peer: what many repositories fall back to without a full-text index (Omeka S's
   default fulltext search among them): ``folded LIKE '%word%'`` for every word (a phrase
   is one LIKE) over a plain table of the same folded title and text, the same visibility
   filter, ``ORDER BY title LIMIT 20`` and a ``count(*)``, without facets. On the first
   ``--peer-queries`` word, phrase and han queries, right after ours, ours runs again without
   facets (the peer's work: a page and a total), then the peer; ratios compare them on
   exactly those queries.
4. With ``--opensearch URL`` (or TANGTHU_OPENSEARCH_URL), or ``--start-opensearch`` (a
   throwaway node from Maven Central, as the test lane starts it: ``tests/opensearch_node.py``,
   heap ``--opensearch-heap``), the same items through ``OpenSearchBackend.rebuild()``
   (index ``tangthu-bench``, deleted at the end) and the same queries, each run on both
   backends by turns (which goes first swapped each time), so that both meet the same load;
   OpenSearch's own ``took`` is kept beside the round trip. 200 other queries warm the
   node's JIT first. Every query's total is compared
   with SQLite's: the two backends must agree on what matched.
5. ``--explain`` adds a pass that re-runs, alone, each statement ``SqliteFts.search``
   sends — captured from the engine, so the SQL is exactly the backend's — plus, where
   the SQL has the expected shape, the matching alone and the counts without grouping.

The search code is being worked on while benchmarks run, so the JSON records a hash of
each file in ``repository/search/`` at the start and says if any changed during the run.

Prints Markdown tables and writes everything to benchmarks/search/last-run.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError

from repository.search import Query, SearchDocument, SearchRequest, fold, parse_query
from repository.search.sqlite_fts import SqliteFts

if __package__:
    from . import data
else:  # run as a script: this folder is sys.path[0]
    import data  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LAST_RUN = HERE / "last-run.json"
KINDS = ("word", "phrase", "faceted", "han")
PEERED = ("word", "phrase", "han")  # the kinds a LIKE scan can answer too
TARGET_P95_MS = 50.0
BATCH = 1_000
WARMUP = 10
# A JVM's JIT compiles the node's hot paths only after some hundreds of searches.
OPENSEARCH_WARMUP = 50  # per kind
OPENSEARCH_INDEX = "tangthu-bench"
SHARE_TOP = ("embargoes SQL", "page SQL", "counts SQL", "texts SQL", "python")
SHARE_WITHIN = ("matching", "page: ranking adds", "counts: grouping adds")
EXPLAIN_COLUMNS = (
    "search",
    "embargoes SQL",
    "page SQL",
    "counts SQL",
    "texts SQL",
    "python",
    "matching",
    "page: ranking adds",
    "counts: grouping adds",
)


# -- measuring


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``share`` of them below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(times_ms: list[float]) -> dict[str, float]:
    if not times_ms:
        return {}
    return {
        "count": len(times_ms),
        "p50_ms": round(statistics.median(times_ms), 2),
        "p95_ms": round(percentile(times_ms, 0.95), 2),
        "max_ms": round(max(times_ms), 2),
        "mean_ms": round(statistics.fmean(times_ms), 2),
    }


def totals_summary(totals: list[int]) -> dict[str, int]:
    if not totals:
        return {}
    return {
        "median": int(statistics.median(totals)),
        "min": min(totals),
        "max": max(totals),
        "empty": sum(1 for t in totals if t == 0),
    }


class CpuWatch:
    """CPU taken by other processes (and hypervisor steal) while a phase ran, in % of all cores."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.machine = self._machine_busy()
        self.own = self._own()

    @staticmethod
    def _machine_busy() -> float:
        try:
            with open("/proc/stat") as stat:
                fields = [int(v) for v in stat.readline().split()[1:]]
        except OSError:
            return math.nan
        # user nice system idle iowait irq softirq steal: all but idle and iowait
        busy = sum(fields[:3]) + sum(fields[5:8])
        return busy / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        times = os.times()
        return times.user + times.system

    def others_percent(self) -> float:
        wall = time.perf_counter() - self.wall
        others = (self._machine_busy() - self.machine) - (self._own() - self.own)
        cores = os.cpu_count() or 1
        return round(max(0.0, 100 * others / (wall * cores)), 1) if wall > 0 else math.nan


# -- the peer


class LikeScan:
    """The naive search: a plain table of folded text, LIKE '%word%' for each word."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TABLE naive_doc (rowid INTEGER PRIMARY KEY, item_id TEXT NOT NULL,"
                    " title TEXT NOT NULL, sort_title TEXT NOT NULL, folded TEXT NOT NULL,"
                    " access TEXT NOT NULL, embargo_until TEXT)"
                )
            )
            connection.execute(text("CREATE INDEX naive_doc_title ON naive_doc (sort_title)"))

    def load(self, documents: list[SearchDocument]) -> None:
        rows = [
            {
                "id": d.item_id,
                "title": d.title,
                "sort": d.sort_title,
                "folded": fold(d.title) + "\n" + fold(d.text),
                "access": "staff" if d.hidden else "open",
                "embargo": d.embargo_until.isoformat() if d.embargo_until else None,
            }
            for d in documents
        ]
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO naive_doc (item_id, title, sort_title, folded, access,"
                    " embargo_until) VALUES (:id, :title, :sort, :folded, :access, :embargo)"
                ),
                rows,
            )

    def search(self, query: Query, today: str) -> tuple[list[Any], int]:
        """One page of 20 by title and the total, visible items only."""
        patterns = list(query.words) + [" ".join(phrase) for phrase in query.phrases]
        params: dict[str, Any] = {"today": today}
        where = []
        for number, pattern in enumerate(patterns):
            escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params[f"p{number}"] = f"%{escaped}%"
            where.append(f"folded LIKE :p{number} ESCAPE '\\'")
        where.append("access != 'staff' AND (embargo_until IS NULL OR embargo_until <= :today)")
        condition = " AND ".join(where)
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    f"SELECT item_id, title FROM naive_doc WHERE {condition}"
                    " ORDER BY sort_title LIMIT 20"
                ),
                params,
            ).all()
            total = connection.execute(
                text(f"SELECT count(*) FROM naive_doc WHERE {condition}"), params
            ).scalar_one()
        return rows, int(total)


# -- running the queries


@dataclass
class Timings:
    """Per kind: latencies (ms), totals, and the slowest queries."""

    times: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    # None: the query was stopped at the cap, so its total is unknown
    totals: dict[str, list[int | None]] = field(default_factory=lambda: {k: [] for k in KINDS})
    cases: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def add(self, kind: str, ms: float, total: int | None, label: str) -> None:
        self.times[kind].append(ms)
        self.totals[kind].append(total)
        self.cases[kind].append(label)

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in KINDS:
            if not self.times[kind]:
                continue
            ranked = sorted(
                zip(self.times[kind], self.totals[kind], self.cases[kind], strict=True),
                key=lambda row: row[0],
                reverse=True,
            )
            out[kind] = {
                **summary(self.times[kind]),
                "capped": sum(1 for t in self.totals[kind] if t is None),
                "totals": totals_summary([t for t in self.totals[kind] if t is not None]),
                "slowest": [
                    {"ms": round(ms, 2), "total": total, "query": label}
                    for ms, total, label in ranked[:5]
                ],
            }
        return out


def label(case: data.Case) -> str:
    f = case.filters
    parts = [case.text]
    for facet in ("collection", "language", "type"):
        if f.values(facet):
            parts.append(f"{facet}={','.join(f.values(facet))}")
    if f.year_from is not None or f.year_to is not None:
        parts.append(f"years={f.year_from}-{f.year_to}")
    return " ".join(parts)


def request_for(case: data.Case) -> SearchRequest:
    return SearchRequest(
        parse_query(case.text),
        case.filters,
        limit=20,
        staff=False,
        today=data.TODAY,
        facets=True,
    )


class Cap:
    """Stops any statement on an engine once a deadline passes, with SQLite's progress
    handler, so that a pathological query costs ``ms`` and the run still ends."""

    def __init__(self, engine: Engine, ms: float) -> None:
        self.ms = ms
        self.deadline = math.inf
        event.listen(engine, "connect", self._install)
        engine.dispose()  # connections made from now on get the handler

    def _install(self, dbapi_connection: Any, record: Any) -> None:
        # Every 100,000 virtual-machine steps: a few ms apart, no measurable overhead.
        dbapi_connection.set_progress_handler(self._check, 100_000)

    def _check(self) -> int:
        return 1 if time.perf_counter() > self.deadline else 0

    @contextmanager
    def armed(self) -> Iterator[None]:
        self.deadline = time.perf_counter() + self.ms / 1000
        try:
            yield
        finally:
            self.deadline = math.inf


def interrupted(error: Exception) -> bool:
    return isinstance(error, OperationalError) and "interrupted" in str(error)


def capped(search: Callable[[SearchRequest], Any], cap: Cap | None) -> Callable[..., Any]:
    """``search``, returning None when the cap stopped it."""
    if cap is None:
        return search

    def run(request: SearchRequest) -> Any:
        with cap.armed():
            try:
                return search(request)
            except OperationalError as error:
                if interrupted(error):
                    return None
                raise

    return run


def run_queries(
    search: Callable[[SearchRequest], Any],
    cases: list[data.Case],
    warmup: list[data.Case],
    peer: LikeScan | None = None,
    peer_queries: int = 0,
) -> tuple[Timings, dict[str, Timings]]:
    """Ours on every case. On the first ``peer_queries`` cases of each PEERED kind, right after
    ours: ours again without facets (what the peer does: a page and a total), then the peer.
    Returns (ours, {"ours": ours on those cases, "bare": ours without facets, "like": peer})."""
    for case in warmup:
        search(request_for(case))
        if peer is not None:
            search(replace(request_for(case), facets=False))
            peer.search(parse_query(case.text), data.TODAY.isoformat())
    ours = Timings()
    paired = {"ours": Timings(), "bare": Timings(), "like": Timings()}
    peer_done = {kind: 0 for kind in KINDS}
    for number, case in enumerate(cases, 1):
        if number % 150 == 0:
            print(f"  {number} of {len(cases)} queries", flush=True)
        request = request_for(case)
        start = time.perf_counter()
        results = search(request)
        ms = (time.perf_counter() - start) * 1000
        total = None if results is None else results.total
        ours.add(case.kind, ms, total, label(case))
        peered = case.kind in PEERED
        if peer is not None and peered and peer_done[case.kind] < peer_queries:
            peer_done[case.kind] += 1
            paired["ours"].add(case.kind, ms, total, label(case))
            start = time.perf_counter()
            bare = search(replace(request, facets=False))
            paired["bare"].add(
                case.kind,
                (time.perf_counter() - start) * 1000,
                None if bare is None else bare.total,
                label(case),
            )
            start = time.perf_counter()
            _, total = peer.search(request.query, data.TODAY.isoformat())
            paired["like"].add(case.kind, (time.perf_counter() - start) * 1000, total, label(case))
    return ours, paired


def by_hits(timings: Timings) -> dict[str, dict[str, Any]]:
    """p50/p95 per kind for queries matching < 1,000, 1,000–9,999 and ≥ 10,000 items."""
    bands = (("< 1,000", 0, 1_000), ("1,000–9,999", 1_000, 10_000), ("≥ 10,000", 10_000, None))
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        pairs = [
            (ms, total)
            for ms, total in zip(timings.times[kind], timings.totals[kind], strict=True)
            if total is not None
        ]
        for name, low, high in bands:
            times = [ms for ms, total in pairs if total >= low and (high is None or total < high)]
            if times:
                out.setdefault(kind, {})[name] = summary(times)
    return out


def faceted_by_filter(timings: Timings) -> dict[str, dict[str, Any]]:
    """Faceted queries with a year range, and with facet values only."""
    groups: dict[str, list[float]] = {"with a year range": [], "facet values only": []}
    for ms, name in zip(timings.times["faceted"], timings.cases["faceted"], strict=True):
        groups["with a year range" if " years=" in name else "facet values only"].append(ms)
    return {name: summary(times) for name, times in groups.items() if times}


# -- explain: the statements SqliteFts.search sends, timed apart


class Capture:
    """Records (statement, parameters) as the engine hands them to the sqlite3 cursor."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statements.append((statement, parameters))

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def role(statement: str) -> str:
    """What a captured statement is for: the page of hits, the counts, or the rest."""
    if "count(" in statement:
        return "counts SQL"
    if "LIMIT" in statement:
        return "page SQL"
    if "DISTINCT embargo_until" in statement:
        return "embargoes SQL"
    return "texts SQL"


def _leading(params: Any, sql: str) -> Any:
    """Parameters for ``sql`` cut from the end of a statement: positional ones are trimmed."""
    if isinstance(params, list | tuple):
        return type(params)(params[: sql.count("?")])
    return params


def variants(page: tuple[str, Any] | None, counts: tuple[str, Any] | None) -> dict[str, Any]:
    """Derived statements, when the SQL has the shape they are cut from.

    - ``matching``: the page statement's FROM … WHERE with count(*) and no ORDER BY: the
      FTS5 MATCH with the visibility and facet conditions, nothing sorted or grouped;
    - ``counts, no grouping``: the counts statement's FROM … WHERE with count(*) alone.
    """
    out: dict[str, Any] = {}
    if page is not None:
        sql, params = page
        found = re.match(r"SELECT .+? FROM (search_fts .+?) ORDER BY [^?]+( LIMIT .*)$", sql)
        if found:
            head = f"SELECT count(*) FROM {found.group(1)}"
            out["matching"] = (head, _leading(params, head))
    if counts is not None:
        sql, params = counts
        found = re.search(r"count\(\*\) AS n FROM (.+?) GROUP BY d\.combo\)", sql)
        if found:
            out["counts, no grouping"] = (f"SELECT count(*) FROM {found.group(1)}", params)
    return out


def explain(fts: SqliteFts, cases: list[data.Case], cap: Cap | None) -> dict[str, Any]:
    """Per kind, p50/p95 of the whole search and of each statement it sends, re-run alone.

    Under the cap a stopped statement counts as the time it ran (about the cap)."""
    capture = Capture(fts.engine)
    search = capped(fts.search, cap)
    parts: dict[str, dict[str, list[float]]] = {kind: {} for kind in KINDS}
    plans: dict[str, Any] = {}
    stopped = {kind: 0 for kind in KINDS}

    def run(connection: Any, sql: str, params: Any) -> float:
        start = time.perf_counter()
        with cap.armed() if cap is not None else nullcontext():
            try:
                connection.exec_driver_sql(sql, params).all()
            except OperationalError as error:
                if not interrupted(error):
                    raise
        return (time.perf_counter() - start) * 1000

    try:
        for case in cases:
            capture.statements.clear()
            start = time.perf_counter()
            results = search(request_for(case))
            whole = (time.perf_counter() - start) * 1000
            stopped[case.kind] += results is None
            statements = [(role(sql), sql, params) for sql, params in capture.statements]
            capture.statements.clear()
            timed: dict[str, float] = {"search": whole}
            named = {name: (sql, params) for name, sql, params in statements}
            derived = variants(named.get("page SQL"), named.get("counts SQL"))
            with fts.engine.connect() as connection:
                for name, sql, params in statements:
                    timed[name] = timed.get(name, 0.0) + run(connection, sql, params)
                for name, (sql, params) in derived.items():
                    timed[name] = run(connection, sql, params)
                if case.kind not in plans:
                    plans[case.kind] = {"query": label(case)}
                    for name, sql, params in statements:
                        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
                        plans[case.kind][name] = {
                            "sql": sql,
                            "plan": [str(row[-1]) for row in rows.all()],
                        }
            if results is not None:  # the counts run beside the page and its texts
                beside = max(
                    timed.get("page SQL", 0.0) + timed.get("texts SQL", 0.0),
                    timed.get("counts SQL", 0.0),
                )
                timed["python"] = whole - timed.get("embargoes SQL", 0.0) - beside
            if "matching" in timed and "page SQL" in timed:
                timed["page: ranking adds"] = timed["page SQL"] - timed["matching"]
            if "counts, no grouping" in timed and "counts SQL" in timed:
                timed["counts: grouping adds"] = timed["counts SQL"] - timed["counts, no grouping"]
            for name, ms in timed.items():
                parts[case.kind].setdefault(name, []).append(ms)
    finally:
        capture.close()
    shares: dict[str, dict[str, float]] = {}
    for kind, values in parts.items():
        if not values:
            continue
        whole = sum(values["search"])
        shares[kind] = {
            name: round(100 * sum(values[name]) / whole, 1)
            for name in (*SHARE_TOP, *SHARE_WITHIN)
            if name in values
        }
    return {
        "parts": {
            kind: {name: summary(values) for name, values in named.items()}
            for kind, named in parts.items()
            if named
        },
        "share_of_time_percent": shares,
        "searches_stopped_at_cap": stopped,
        "plans": plans,
    }


# -- OpenSearch


def run_alternating(
    search: Callable[[SearchRequest], Any],
    beside: Callable[[SearchRequest], Any],
    cases: list[data.Case],
    warmup: list[data.Case],
) -> tuple[Timings, Timings]:
    """Each case on both backends one after the other, which goes first swapped each time,
    so that both meet the same load from other sessions."""
    for case in warmup:
        search(request_for(case))
        beside(request_for(case))
    first, second = Timings(), Timings()
    for number, case in enumerate(cases, 1):
        if number % 150 == 0:
            print(f"  {number} of {len(cases)} queries", flush=True)
        request = request_for(case)
        turns = [(search, first), (beside, second)]
        for run, timings in turns if number % 2 else reversed(turns):
            start = time.perf_counter()
            results = run(request)
            ms = (time.perf_counter() - start) * 1000
            timings.add(case.kind, ms, None if results is None else results.total, label(case))
    return first, second


def opensearch_pass(
    url: str,
    docs: list[SearchDocument],
    cases: list[data.Case],
    warmup: list[data.Case],
    beside: Callable[[SearchRequest], Any],
) -> tuple[dict[str, Any], Timings]:
    """Index into OpenSearch and run the cases there, alternating with SQLite (``beside``)."""
    from repository.search.opensearch import OpenSearchBackend

    backend = OpenSearchBackend(url, index=OPENSEARCH_INDEX, timeout=60.0)
    try:
        info = backend.client.info()
        start = time.perf_counter()
        backend.rebuild(batches(docs))
        seconds = time.perf_counter() - start
        print(
            f"  {len(docs):,} items in {seconds:.1f} s: {len(docs) / seconds:,.0f} items/s",
            flush=True,
        )
        (name,) = backend.aliased()
        stats = backend.client.indices.stats(index=name, metric="store,segments")
        primaries = stats["indices"][name]["primaries"]
        print(f"querying OpenSearch and SQLite by turns: {len(cases)} queries …", flush=True)
        # The node's own time for each search ("took"), beside the round trip measured.
        took: list[float] = []
        per_search: list[float] = []
        send = backend.client.search

        def send_and_note(*args: Any, **kwargs: Any) -> Any:
            raw = send(*args, **kwargs)
            took.append(float(raw.get("took", math.nan)))
            return raw

        def search(request: SearchRequest) -> Any:
            took.clear()
            results = backend.search(request)
            per_search.append(took[-1] if took else math.nan)
            return results

        backend.client.search = send_and_note  # type: ignore[method-assign]
        watch = CpuWatch()
        ours, sqlite = run_alternating(search, beside, cases, warmup)
        node = Timings()
        for case, ms in zip(cases, per_search[len(warmup) :], strict=True):
            if not math.isnan(ms):
                node.add(case.kind, ms, None, label(case))
        return {
            "url": url,
            "version": info["version"]["number"],
            "distribution": info["version"].get("distribution", "elasticsearch"),
            "index_seconds": round(seconds, 1),
            "index_rate": round(len(docs) / seconds),
            "index_mb": round(primaries["store"]["size_in_bytes"] / 1e6, 1),
            "segments": primaries["segments"]["count"],
            "kinds": ours.report(),
            "sqlite_by_turns": sqlite.report(),
            "node_took": {kind: summary(node.times[kind]) for kind in KINDS if node.times[kind]},
            "by_hits": by_hits(ours),
            # The node is another process: its own work counts here, with the others'.
            "others_cpu_percent": watch.others_percent(),
        }, ours
    finally:
        client = backend.client
        names: set[str] = set()
        try:
            names |= set(backend.aliased())
            names |= set(client.indices.get(index=f"{OPENSEARCH_INDEX}-*"))
        except Exception:  # noqa: BLE001 - best effort listing
            pass
        for name in sorted(names):
            try:
                client.indices.delete(index=name)
            except Exception as error:  # noqa: BLE001 - say so, and let the run finish
                print(f"could not delete OpenSearch index {name}: {error}", flush=True)


def agreement(sqlite: Timings, opensearch: Timings, cases: list[data.Case]) -> dict[str, Any]:
    """Queries whose totals differ between the backends (both ran the cases in one order)."""
    texts = {kind: [label(c) for c in cases if c.kind == kind] for kind in KINDS}
    compared, differ = 0, []
    for kind in KINDS:
        for ours, theirs, name in zip(
            sqlite.totals[kind], opensearch.totals[kind], texts[kind], strict=True
        ):
            if ours is None or theirs is None:
                continue  # stopped at the cap: unknown
            compared += 1
            if ours != theirs:
                differ.append({"kind": kind, "query": name, "sqlite": ours, "opensearch": theirs})
    return {"compared": compared, "differ": len(differ), "examples": differ[:10]}


# -- report


def code_hashes() -> dict[str, str]:
    """A short SHA-256 of each search source file: which code a run measured."""
    folder = ROOT / "repository" / "search"
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in sorted(folder.glob("*.py"))
    }


def batches(docs: list[SearchDocument]) -> Iterator[list[SearchDocument]]:
    for start in range(0, len(docs), BATCH):
        yield docs[start : start + BATCH]


def markdown(result: dict[str, Any]) -> str:
    cap = result.get("cap_ms") or math.inf

    def ms(value: float) -> str:
        """A latency; '≥' when the search was stopped at the cap, so it took longer."""
        return f"≥ {cap:,.0f}" if value >= cap else f"{value:,.1f}"

    lines = [
        f"{result['items']:,} items; SQLite {result['sqlite_version']};"
        f" indexing {result['sqlite']['index_rate']:,} items/s"
        f" ({result['sqlite']['index_seconds']} s, index file {result['sqlite']['file_mb']} MB);"
        f" others' CPU while querying {result['sqlite']['others_cpu_percent']} %",
        "",
        "| backend | kind | queries | p50 ms | p95 ms | max ms | p95 < 50 ms"
        " | median total | totals min–max | empty | stopped at cap |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: |",
    ]
    backends = [("SQLite FTS5", result["sqlite"]["kinds"])]
    if result.get("opensearch"):
        backends.append(("OpenSearch", result["opensearch"]["kinds"]))
    for name, kinds in backends:
        for kind in KINDS:
            k = kinds.get(kind)
            if not k:
                continue
            t = k["totals"] or {"median": 0, "min": 0, "max": 0, "empty": 0}
            met = "yes" if k["p95_ms"] < TARGET_P95_MS else "**no**"
            lines.append(
                f"| {name} | {kind} | {k['count']} | {ms(k['p50_ms'])} | {ms(k['p95_ms'])}"
                f" | {ms(k['max_ms'])} | {met} | {t['median']:,} | {t['min']:,}–{t['max']:,}"
                f" | {t['empty']} | {k.get('capped', 0)} |"
            )
    found = result.get("opensearch")
    if found:
        same = result.get("agreement", {})
        lines += [
            "",
            f"OpenSearch {found.get('version', '?')} at {found['url']}: indexing"
            f" {found['index_rate']:,} items/s ({found['index_seconds']} s, index"
            f" {found.get('index_mb', '?')} MB in {found.get('segments', '?')} segments);"
            f" others' CPU while querying (the node's own work included)"
            f" {found['others_cpu_percent']} %. Totals equal to SQLite's on"
            f" {same.get('compared', 0) - same.get('differ', 0):,} of {same.get('compared', 0):,}"
            " queries.",
        ]
        turns = found.get("sqlite_by_turns", {})
        if turns:
            lines += [
                "",
                "By turns, query by query: the same load on both, the node's own background"
                " work (JIT, GC) on these cores included, so SQLite is slower here than alone:",
                "",
                "| kind | SQLite FTS5 p50 / p95 ms | OpenSearch p50 / p95 ms"
                " | OpenSearch ÷ SQLite p50 / p95 |",
                "| --- | ---: | ---: | ---: |",
            ]
            for kind in KINDS:
                a, b = turns.get(kind), found["kinds"].get(kind)
                if not a or not b:
                    continue
                lines.append(
                    f"| {kind} | {ms(a['p50_ms'])} / {ms(a['p95_ms'])}"
                    f" | {ms(b['p50_ms'])} / {ms(b['p95_ms'])}"
                    f" | {b['p50_ms'] / a['p50_ms']:.2f}× / {b['p95_ms'] / a['p95_ms']:.2f}× |"
                )
        took = found.get("node_took", {})
        if took:
            lines += [
                "",
                "OpenSearch's own time per search (`took`, ms, p50 / p95), the rest of the"
                " figures above being the client, HTTP and snippets: "
                + ", ".join(f"{k} {v['p50_ms']:.1f} / {v['p95_ms']:.1f}" for k, v in took.items()),
            ]
        for row in same.get("examples", []):
            lines.append(
                f"- differs: {row['kind']} `{row['query']}`: SQLite {row['sqlite']:,},"
                f" OpenSearch {row['opensearch']:,}"
            )
    elif result.get("opensearch_error"):
        lines += ["", f"OpenSearch failed: {result['opensearch_error']}"]
    peer = result.get("peer", {})
    if peer:
        lines += [
            "",
            f"Peer: LIKE scan on the first {peer['queries_per_kind']} word, phrase and han queries,"
            " each run right after ours (ours below are on those queries only).",
            "",
            "| kind | queries | ours p50 / p95 | ours, no facets p50 / p95 | LIKE p50 / p95"
            " | LIKE/ours p50 / p95 | LIKE/ours no facets p50 / p95 | median total ours / LIKE |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for kind, row in peer["kinds"].items():
            lines.append(
                f"| {kind} | {row['count']} | {row['ours_p50_ms']:.1f} / {row['ours_p95_ms']:.1f}"
                f" | {row['bare_p50_ms']:.1f} / {row['bare_p95_ms']:.1f}"
                f" | {row['like_p50_ms']:.1f} / {row['like_p95_ms']:.1f}"
                f" | **{row['ratio_p50']:.2f}×** / **{row['ratio_p95']:.2f}×**"
                f" | {row['bare_ratio_p50']:.2f}× / {row['bare_ratio_p95']:.2f}×"
                f" | {row['ours_median_total']:,} / {row['like_median_total']:,} |"
            )
    bands = result["sqlite"].get("by_hits", {})
    if bands:
        names = ("< 1,000", "1,000–9,999", "≥ 10,000")
        lines += [
            "",
            "SQLite FTS5 by how many items a query matched (queries, p50 / p95 ms):",
            "",
            "| kind | " + " | ".join(names) + " |",
            "| --- |" + " ---: |" * len(names),
        ]
        for kind, row in bands.items():
            cells = [
                f"{row[n]['count']}: {row[n]['p50_ms']:.1f} / {row[n]['p95_ms']:.1f}"
                if n in row
                else "–"
                for n in names
            ]
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    split = result["sqlite"].get("faceted_by_filter", {})
    if split:
        lines += ["", "SQLite FTS5 faceted queries by filter (queries, p50 / p95 ms):", ""]
        for name, row in split.items():
            lines.append(f"- {name}: {row['count']}: {ms(row['p50_ms'])} / {ms(row['p95_ms'])}")
    if result.get("explain"):
        present = {n for parts in result["explain"]["parts"].values() for n in parts}
        names = [n for n in EXPLAIN_COLUMNS if n in present]
        lines += [
            "",
            "Explain, p50 / p95 ms: each statement `SqliteFts.search` sent, re-run alone on"
            " the same connection (`embargoes SQL` reads the embargo days still running,"
            " `texts SQL` the page's original text for snippets). The search sends the counts"
            " on a second connection beside the page and its texts, so `python` is the"
            " search less the embargoes and the longer of (page + texts, counts): snippets,"
            " SQLAlchemy, the thread. Derived: `matching` is the page statement's FROM …"
            " WHERE with count(*) (the FTS5 MATCH with the facet and visibility tokens and"
            " any year range, nothing ranked); `page: ranking adds`"
            " is page − matching; `counts: grouping adds` is the counts statement less the"
            " same statement with count(*) and no GROUP BY.",
            "",
            "| kind | " + " | ".join(names) + " |",
            "| --- |" + " ---: |" * len(names),
        ]
        for kind, parts in result["explain"]["parts"].items():
            cells = [
                f"{parts[n]['p50_ms']:.1f} / {parts[n]['p95_ms']:.1f}" if n in parts else "–"
                for n in names
            ]
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
        lines += ["", "Share of all the time searches took (summed over the queries):", ""]
        for kind, share in result["explain"]["share_of_time_percent"].items():
            top = [f"{n} {v:.0f} %" for n, v in share.items() if n in SHARE_TOP]
            within = [f"{n} {v:.0f} %" for n, v in share.items() if n not in SHARE_TOP]
            inner = "; derived: " + ", ".join(within) if within else ""
            lines.append(f"- {kind}: " + ", ".join(top) + inner)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, help="100,000 (3,000 with --smoke)")
    parser.add_argument("--queries", type=int, default=300, help="per kind (300)")
    parser.add_argument(
        "--peer-queries", type=int, default=50, help="word, phrase and han queries for LIKE (50)"
    )
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument(
        "--explain", action="store_true", help="then time the page and counts SQL apart"
    )
    parser.add_argument(
        "--explain-queries", type=int, default=100, help="per kind in the explain pass (100)"
    )
    parser.add_argument(
        "--cap-ms",
        type=float,
        default=2000,
        help="stop a SQLite search after this long and count it as that long (2000; 0: never)",
    )
    parser.add_argument("--output", type=Path, default=LAST_RUN)
    parser.add_argument(
        "--smoke", action="store_true", help="3,000 items, 20 queries a kind: check it runs"
    )
    parser.add_argument(
        "--opensearch",
        metavar="URL",
        default=os.environ.get("TANGTHU_OPENSEARCH_URL", "").strip(),
        help="OpenSearch to measure beside SQLite (default: TANGTHU_OPENSEARCH_URL, if set)",
    )
    parser.add_argument(
        "--start-opensearch",
        action="store_true",
        help="start a throwaway OpenSearch node (tests/opensearch_node.py) and measure it",
    )
    parser.add_argument(
        "--opensearch-heap", default="512m", help="the started node's JVM heap (512m)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.queries, args.peer_queries = 20, 5
    if args.items is None:
        args.items = 3_000 if args.smoke else 100_000

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    print(f"generating {args.items:,} items (seed {args.seed}) …", flush=True)
    docs = data.documents(args.items, args.seed)
    cases = data.cases(docs, args.queries, seed=args.seed + 1)
    warmup = data.cases(docs, WARMUP, seed=args.seed + 2)[: WARMUP * 2]
    result: dict[str, Any] = {
        "started": started,
        "items": args.items,
        "queries_per_kind": args.queries,
        "seed": args.seed,
        "sqlite_version": sqlite3.sqlite_version,
        "python": platform.python_version(),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "target_p95_ms": TARGET_P95_MS,
        "search_code": code_hashes(),
        "cap_ms": args.cap_ms or None,
    }

    with tempfile.TemporaryDirectory(prefix="tangthu-search-bench-") as tmp:
        path = Path(tmp) / "search.sqlite"
        fts = SqliteFts(create_engine(f"sqlite:///{path}"))
        print(f"indexing into SQLite FTS5 ({path}) …", flush=True)
        start = time.perf_counter()
        count = fts.rebuild(batches(docs))
        seconds = time.perf_counter() - start
        print(f"  {count:,} items in {seconds:.1f} s: {count / seconds:,.0f} items/s", flush=True)

        peer = LikeScan(create_engine(f"sqlite:///{Path(tmp) / 'peer.sqlite'}"))
        start = time.perf_counter()
        peer.load(docs)
        peer_load = time.perf_counter() - start
        cap = Cap(fts.engine, args.cap_ms) if args.cap_ms > 0 else None

        print(
            f"querying: {args.queries} per kind, LIKE peer on {args.peer_queries} word and"
            " phrase queries …",
            flush=True,
        )
        watch = CpuWatch()
        ours, paired = run_queries(
            capped(fts.search, cap), cases, warmup, peer=peer, peer_queries=args.peer_queries
        )
        result["sqlite"] = {
            "index_seconds": round(seconds, 1),
            "index_rate": round(count / seconds),
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "kinds": ours.report(),
            "by_hits": by_hits(ours),
            "faceted_by_filter": faceted_by_filter(ours),
            "others_cpu_percent": watch.others_percent(),
        }
        peer_kinds: dict[str, Any] = {}
        for kind in PEERED:
            if not paired["like"].times[kind]:
                continue
            a, c, b = (summary(paired[n].times[kind]) for n in ("ours", "bare", "like"))
            peer_kinds[kind] = {
                "count": a["count"],
                "ours_p50_ms": a["p50_ms"],
                "ours_p95_ms": a["p95_ms"],
                "bare_p50_ms": c["p50_ms"],
                "bare_p95_ms": c["p95_ms"],
                "like_p50_ms": b["p50_ms"],
                "like_p95_ms": b["p95_ms"],
                "ratio_p50": round(b["p50_ms"] / a["p50_ms"], 2),
                "ratio_p95": round(b["p95_ms"] / a["p95_ms"], 2),
                "bare_ratio_p50": round(b["p50_ms"] / c["p50_ms"], 2),
                "bare_ratio_p95": round(b["p95_ms"] / c["p95_ms"], 2),
                "ours_median_total": totals_summary(
                    [t for t in paired["ours"].totals[kind] if t is not None]
                ).get("median", 0),
                "like_median_total": totals_summary(
                    [t for t in paired["like"].totals[kind] if t is not None]
                ).get("median", 0),
                "like_slowest": paired["like"].report()[kind]["slowest"],
            }
        result["peer"] = {
            "name": "LIKE '%word%' scan, ORDER BY sort_title LIMIT 20 + count(*)",
            "bare": "ours with facets=False: a page and a total, as the peer",
            "queries_per_kind": min(args.peer_queries, args.queries),
            "load_seconds": round(peer_load, 1),
            "kinds": peer_kinds,
        }

        if args.explain:
            print("explain: timing the page and counts statements apart …", flush=True)
            chosen = [
                case
                for kind in KINDS
                for case in [c for c in cases if c.kind == kind][: args.explain_queries]
            ]
            result["explain"] = explain(fts, chosen, cap)
        searched: Timings | None = None
        with started_node(args) as url:
            if url:
                print(f"indexing into OpenSearch at {url} (index {OPENSEARCH_INDEX}) …", flush=True)
                try:
                    per_kind = 5 if args.smoke else OPENSEARCH_WARMUP
                    jit_warmup = data.cases(docs, per_kind, seed=args.seed + 3)
                    result["opensearch"], searched = opensearch_pass(
                        url, docs, cases, jit_warmup, capped(fts.search, cap)
                    )
                    result["agreement"] = agreement(ours, searched, cases)
                except Exception as error:  # noqa: BLE001 - the SQLite figures are still worth it
                    result["opensearch"] = None
                    result["opensearch_error"] = f"{type(error).__name__}: {error}"[:500]
                    print(f"OpenSearch failed: {result['opensearch_error']}", flush=True)
            else:
                result["opensearch"] = None
                print(
                    "OpenSearch skipped: give --opensearch URL or --start-opensearch"
                    " (or set TANGTHU_OPENSEARCH_URL)",
                    flush=True,
                )
        fts.engine.dispose()
        peer.engine.dispose()

    kinds = result["sqlite"]["kinds"]
    result["target_met"] = all(k["p95_ms"] < TARGET_P95_MS for k in kinds.values())
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    result["search_code_changed_during_run"] = code_hashes() != result["search_code"]
    if result["search_code_changed_during_run"]:
        print(
            "NOTE: repository/search/ changed on disk during this run. The figures are for the"
            " code as imported at the start (search_code in the JSON); measure again for the"
            " new code."
        )
    print()
    print(markdown(result))
    print()
    slow = [kind for kind, k in kinds.items() if k["p95_ms"] >= TARGET_P95_MS]
    print(
        "target p95 < 50 ms: "
        + ("met for every kind" if not slow else f"NOT met for {', '.join(slow)}")
    )
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"written {args.output}")
    if not args.smoke:
        return 0
    verdict = smoke_verdict(ours)
    if verdict or not (args.opensearch or args.start_opensearch):
        return verdict
    if searched is None:
        print("smoke: OpenSearch was asked for and did not answer")
        return 1
    differ = result["agreement"]["differ"]
    if differ:
        print(f"smoke: OpenSearch and SQLite disagree on {differ} queries' totals")
        return 1
    return smoke_verdict(searched)


@contextmanager
def started_node(args: argparse.Namespace) -> Iterator[str]:
    """The OpenSearch URL to measure: given, started here for the run, or none ("")."""
    if not args.start_opensearch:
        yield args.opensearch
        return
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.opensearch_node import running

    with running(heap=args.opensearch_heap) as node:
        print(
            f"OpenSearch {node.version} node (heap {args.opensearch_heap}) on {node.url},"
            f" green in {node.started_seconds:.1f} s",
            flush=True,
        )
        yield node.url


def smoke_verdict(ours: Timings) -> int:
    """Every query answered, and the words, phrases and Hán (taken from the items) found."""
    for kind in KINDS:
        totals = ours.totals[kind]
        if not totals or any(total is None for total in totals):
            print(f"smoke: {kind} queries went unanswered")
            return 1
    found = [t for kind in PEERED for t in ours.totals[kind] if t]
    asked = sum(len(ours.totals[kind]) for kind in PEERED)
    if len(found) < 0.9 * asked:
        print(f"smoke: only {len(found)} of {asked} word, phrase and Hán queries found anything")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
