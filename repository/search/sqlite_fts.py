"""SQLite FTS5 search over folded text: the embedded default.

Tables, all rebuilt by `tangthu reindex` and never migrated:
- ``search_doc``: one narrow row per published item, what filters, sorts and facet
  counts read: sort title, years, its facet combination, and whether it is hidden from
  the public (staff only, or embargoed until a day);
- ``search_combo``: each distinct combination of collection, languages, types and
  century once. Facets are counted by grouping matches on that one integer;
- ``search_text``: the original title, metadata and OCR text, read only for the page of
  hits, to cut snippets with their diacritics;
- ``search_fts``: the FTS5 index of the folded texts, each Han character spaced apart as
  a word of its own (unicode61 would make a run of them one token), sharing
  ``search_doc``'s rowid, ranked by BM25 with the title weighted five times. Its
  ``facets`` column holds made-up tokens for facet values and for restrictions, so facet
  filters and the public's visibility are decided inside the MATCH, on FTS5's own lists;
- ``search_meta``: the layout's version (another version's tables are dropped and the
  index is rebuilt from the database), and the index's generation, one more with every
  write. Each process keeps its latest answers by request and generation, so a repeated
  search (a popular word, a facet clicked back) costs one read of that row, and any write,
  by any process, makes every kept answer unreachable at once.

One module, past 400 lines, because the layout, the writing and the statements that read
it are one design that changes together, and benchmarks/search hashes it as a unit.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, text

from ..services.collation import sort_key
from ..services.recent import Recent
from . import (
    FACETS,
    Filters,
    Hit,
    Query,
    Results,
    SearchDocument,
    SearchRequest,
    fold,
    han_tokens,
    make_snippet,
    separate_han,
)

DOC, TEXT, FTS, COMBO, META = (
    "search_doc",
    "search_text",
    "search_fts",
    "search_combo",
    "search_meta",
)
VERSION = "8"  # 7: titles sorted in Vietnamese order (services.collation); 8: generation
FACET_LIMIT = 30
KEPT_ANSWERS = 1024  # per process; a few kilobytes each
SEPARATOR = "|"
UNIT = "\x1f"  # between the parts of a combination's key
RANK = f"bm25({FTS}, 5.0, 1.0, 1.0, 0.0)"  # the title counts five times; facet tokens not
HIDDEN = "zzhidden"
# What a public search shows, read from the document row ``d`` (the tokens' meaning).
PUBLIC = "d.hidden = 0 AND (d.embargo_until IS NULL OR d.embargo_until <= :today)"
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {META} (version TEXT NOT NULL, generation INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {DOC} (rowid INTEGER PRIMARY KEY, item_id TEXT NOT NULL UNIQUE,"
    " sort_title TEXT NOT NULL, year_start INTEGER, year_last INTEGER,"
    " combo INTEGER NOT NULL, hidden INTEGER NOT NULL, embargo_until TEXT)",
    f"CREATE INDEX IF NOT EXISTS {DOC}_title ON {DOC} (sort_title)",
    # Both ends of an item's years in one index: a year range is read from it alone.
    f"CREATE INDEX IF NOT EXISTS {DOC}_year ON {DOC} (year_start, year_last)",
    # Embargoes still running today, found without reading the other documents.
    f"CREATE INDEX IF NOT EXISTS {DOC}_embargo ON {DOC} (embargo_until)"
    " WHERE embargo_until IS NOT NULL",
    # Each distinct (collection, languages, types, century) once: facets are counted by
    # grouping the matches on one small integer, then read back as values.
    f"CREATE TABLE IF NOT EXISTS {COMBO} (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
    " collection TEXT NOT NULL, languages TEXT NOT NULL, types TEXT NOT NULL, century INTEGER)",
    f"CREATE TABLE IF NOT EXISTS {TEXT} (rowid INTEGER PRIMARY KEY, title TEXT NOT NULL,"
    " body TEXT NOT NULL, ocr TEXT NOT NULL)",
    # "facets" holds made-up tokens: one per facet value, so a facet filter is part of the
    # MATCH and FTS5 intersects it with the words itself, and those that keep an item from
    # the public (staff only, embargoed until a year or a day), so that the public's
    # searches leave them out with a NOT inside the MATCH. They do not count for ranking.
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(title, body, ocr, facets,"
    " tokenize='unicode61 remove_diacritics 2')",
)
TABLES = (FTS, TEXT, DOC, COMBO)
RETIRED = ("search_facet",)  # tables of older layouts
ORDER = {
    "title": "d.sort_title, d.rowid",
    "date": "d.year_start IS NULL, d.year_start, d.sort_title",
    "-date": "d.year_start IS NULL, d.year_start DESC, d.sort_title",
}


def match_expression(
    query: Query, filters: Filters | None = None, hidden: Iterable[str] = ()
) -> str:
    """An FTS5 MATCH string built only from word tokens, each quoted, and our own tokens
    for facet values and for what the reader may not see: no syntax typed by anyone gets in.
    """
    terms = [_phrase((word,)) for word in query.words]  # a run of Han is a phrase
    terms += [_phrase(phrase) for phrase in query.phrases]
    for facet in FACETS:
        values = filters.values(facet) if filters else ()
        if values:
            tokens = " OR ".join(f'"{facet_token(facet, v)}"' for v in values)
            terms.append(f"facets : ({tokens})")
    expression = " AND ".join(terms)
    hidden = list(hidden)
    if hidden and expression:
        expression = f"({expression}) NOT facets : ({' OR '.join(hidden)})"
    return expression


def _phrase(words: Iterable[str]) -> str:
    """Folded words as one quoted FTS5 phrase, each Han character a token of its own."""
    return '"' + " ".join(token for word in words for token in han_tokens(word)) + '"'


def indexed(text: str) -> str:
    """Text as the FTS5 columns hold it: folded, each Han character spaced apart."""
    return separate_han(fold(text))


def facet_token(facet: str, value: str) -> str:
    """A word no text contains, standing for one facet value."""
    digest = hashlib.blake2b(f"{facet}\x00{value}".encode(), digest_size=8).hexdigest()
    return f"zz{facet[0]}{digest}"


def restriction_tokens(hidden: bool, embargo_until: date | None) -> list[str]:
    """The tokens that keep a document from the public while they apply."""
    tokens = [HIDDEN] if hidden else []
    if embargo_until is not None:
        tokens += [f"zzey{embargo_until.year:04d}", f"zzed{embargo_until:%Y%m%d}"]
    return tokens


def hidden_tokens(embargoes: Iterable[str], today: date) -> list[str]:
    """What to leave out of a public search today: staff-only documents, and those
    embargoed past today, by year for later years and by day for the rest of this one."""
    tokens = {HIDDEN}
    for value in embargoes:
        until = date.fromisoformat(value)
        if until.year > today.year:
            tokens.add(f"zzey{until.year:04d}")
        elif until > today:
            tokens.add(f"zzed{until:%Y%m%d}")
    return sorted(tokens)


def century(year: int | None) -> int | None:
    return None if year is None else year // 100


def year_conditions(filters: Filters) -> tuple[list[str], dict[str, Any]]:
    """A year range on the document row ``d``: overlapping items are in."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if filters.year_to is not None:
        where.append("d.year_start <= :year_to")
        params["year_to"] = filters.year_to
    if filters.year_from is not None:
        where.append("d.year_last >= :year_from")
        params["year_from"] = filters.year_from
    return where, params


class SqliteFts:
    """The index in SQLite: the application's database file, or a file of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.needs_rebuild = False
        # the latest answers of this process by (request, generation): a page of hits and
        # the facet counts each
        self.answers: Recent[tuple[SearchRequest, object], Results] = Recent(KEPT_ANSWERS)
        self._hidden_for: tuple[tuple[object, date], list[str]] | None = None
        with self.engine.begin() as connection:
            tables = {
                name
                for (name,) in connection.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'table'")
                )
            }
            version = None
            if META in tables:
                version = connection.execute(text(f"SELECT version FROM {META}")).scalar()
            if version == VERSION:
                return
            # Another layout (or none): start again; the caller refills it.
            for table in (*TABLES, *RETIRED, META):
                connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
            for statement in SCHEMA:
                connection.execute(text(statement))
            connection.execute(
                text(f"INSERT INTO {META} (version, generation) VALUES (:v, 0)"), {"v": VERSION}
            )
            self.needs_rebuild = bool(tables & {DOC, FTS})

    def index(self, documents: list[SearchDocument]) -> None:
        with self.engine.begin() as connection:
            self._index(connection, documents)
            _next_generation(connection)

    def rebuild(self, batches: Iterable[list[SearchDocument]]) -> int:
        """Replace the whole index in one transaction: searches see the old one until then."""
        count = 0
        with self.engine.begin() as connection:
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))
            for batch in batches:
                self._index(connection, batch, first_rowid=count + 1)
                count += len(batch)
            _next_generation(connection)
        self.needs_rebuild = False
        return count

    def _index(
        self, connection: Connection, documents: list[SearchDocument], first_rowid: int = 0
    ) -> None:
        """Write documents, a statement per table for the whole batch. ``first_rowid``: the
        tables are being refilled from empty, so rows are numbered here from it, and no
        older row of the same item is looked for."""
        rows = [_rows(document) for document in documents]
        if first_rowid:
            rowids = list(range(first_rowid, first_rowid + len(rows)))
        else:
            for document in documents:
                self._delete(connection, document.item_id)
            start = connection.execute(text(f"SELECT coalesce(max(rowid), 0) FROM {DOC}"))
            first = int(start.scalar_one()) + 1
            rowids = list(range(first, first + len(rows)))
        if not rows:
            return
        combos = {row[0]["key"]: row[0] for row in rows}
        connection.execute(
            text(
                f"INSERT INTO {COMBO} (key, collection, languages, types, century)"
                " VALUES (:key, :collection, :languages, :types, :century)"
                " ON CONFLICT (key) DO NOTHING"
            ),
            list(combos.values()),
        )
        ids = {str(k): int(v) for k, v in connection.execute(text(f"SELECT key, id FROM {COMBO}"))}
        connection.execute(
            text(
                f"INSERT INTO {DOC} (rowid, item_id, sort_title, year_start, year_last, combo,"
                " hidden, embargo_until)"
                " VALUES (:r, :id, :sort, :ys, :last, :combo, :hidden, :embargo)"
            ),
            [
                {**doc, "r": r, "combo": ids[combo["key"]]}
                for r, (combo, doc, _) in zip(rowids, rows, strict=True)
            ],
        )
        connection.execute(
            text(f"INSERT INTO {TEXT} (rowid, title, body, ocr) VALUES (:r, :t, :b, :o)"),
            [{**texts[0], "r": r} for r, (_, _, texts) in zip(rowids, rows, strict=True)],
        )
        connection.execute(
            text(
                f"INSERT INTO {FTS} (rowid, title, body, ocr, facets) VALUES (:r, :t, :b, :o, :f)"
            ),
            [{**texts[1], "r": r} for r, (_, _, texts) in zip(rowids, rows, strict=True)],
        )

    @staticmethod
    def _delete(connection: Connection, item_id: str) -> None:
        rowid = connection.execute(
            text(f"SELECT rowid FROM {DOC} WHERE item_id = :id"), {"id": item_id}
        ).scalar()
        if rowid is None:
            return
        for table in (FTS, TEXT, DOC):
            connection.execute(text(f"DELETE FROM {table} WHERE rowid = :r"), {"r": rowid})

    def remove(self, item_id: str) -> None:
        with self.engine.begin() as connection:
            self._delete(connection, item_id)
            _next_generation(connection)

    def clear(self) -> None:
        with self.engine.begin() as connection:
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))
            _next_generation(connection)

    def search(self, request: SearchRequest) -> Results:
        """One page of hits, the total, and facet counts over everything that matched.

        The page and the counts are two statements over the same match, sent at once on
        two connections: for a common word each walks every match (ranking it, or
        grouping it), and SQLite lets go of the GIL while it does.
        """
        if request.browsing and request.filters.empty:
            return Results()
        with self.engine.connect() as connection:
            # Read first: the statements below see this generation or a newer one, so a
            # kept answer is never older than its key says.
            generation = connection.execute(text(f"SELECT generation FROM {META}")).scalar()
            key = (request, generation)
            kept = self.answers.get(key)
            if kept is not None:
                return kept
            hidden = () if request.staff else self._hidden(connection, generation, request.today)
            page_sql, counts_sql, params = statements(request, hidden)
            counting = _counting_pool().submit(self._rows, counts_sql, params)
            try:
                page = [row[0] for row in connection.execute(text(page_sql), params)]
                texts = self._texts(connection, page)
            finally:
                counted = counting.result()
        total = sum(int(row[4]) for row in counted)
        facets = _facets(counted) if request.facets else {}
        hits = tuple(
            Hit(item_id, make_snippet([body, ocr, title], request.query))
            for item_id, title, body, ocr in (texts[rowid] for rowid in page if rowid in texts)
        )
        results = Results(hits, total, facets)
        self.answers.put(key, results)
        return results

    def _hidden(self, connection: Connection, generation: object, today: date) -> list[str]:
        """The tokens a public search leaves out today. Embargoes change only with a write,
        which moves the generation on: read them once per generation and day (at 200,000
        items, 3,000 dates were 5 ms of every search)."""
        key = (generation, today)
        known = self._hidden_for
        if known is not None and known[0] == key:
            return known[1]
        tokens = hidden_tokens(_embargoes(connection, today), today)
        self._hidden_for = (key, tokens)
        return tokens

    def _rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params).all())

    @staticmethod
    def _texts(connection: Connection, rowids: list[int]) -> dict[int, tuple[str, str, str, str]]:
        if not rowids:
            return {}
        marks = ", ".join(str(int(r)) for r in rowids)
        rows = connection.execute(
            text(
                f"SELECT d.rowid, d.item_id, t.title, t.body, t.ocr FROM {DOC} d JOIN {TEXT} t"
                f" ON t.rowid = d.rowid WHERE d.rowid IN ({marks})"
            )
        )
        return {int(r[0]): (str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows}


def _rows(
    document: SearchDocument,
) -> tuple[dict[str, Any], dict[str, Any], tuple[dict[str, Any], dict[str, Any]]]:
    """One document as its combination, its document row, and its text and FTS rows."""
    values = {  # "|" joins values in search_combo, so it may not be inside one
        facet: tuple(v.replace(SEPARATOR, "/")[:200] for v in chosen if v)
        for facet, chosen in document.facet_values().items()
    }
    combo: dict[str, Any] = {
        "collection": SEPARATOR.join(values["collection"]),
        "languages": SEPARATOR.join(sorted(values["language"])),
        "types": SEPARATOR.join(sorted(values["type"])),
        "century": century(document.year_start),
    }
    combo["key"] = UNIT.join(str(v) if v is not None else "" for v in combo.values())
    doc = {
        "id": document.item_id,
        # Vietnamese alphabetical order (a < ă < â ... đ ...), Han titles after Latin ones.
        "sort": sort_key(document.title),
        "ys": document.year_start,
        "last": document.year_start if document.year_end is None else document.year_end,
        "hidden": int(document.hidden),
        "embargo": document.embargo_until.isoformat() if document.embargo_until else None,
    }
    tokens = [facet_token(facet, value) for facet, chosen in values.items() for value in chosen]
    tokens += restriction_tokens(document.hidden, document.embargo_until)
    texts = (
        {"t": document.title, "b": document.text, "o": document.ocr},
        {
            "t": indexed(document.title),
            "b": indexed(document.text),
            "o": indexed(document.ocr),
            "f": " ".join(tokens),
        },
    )
    return combo, doc, texts


def statements(request: SearchRequest, hidden: Iterable[str]) -> tuple[str, str, dict[str, Any]]:
    """The page statement, the counts statement and their parameters.

    ``hidden``: the restriction tokens to leave out (none for staff).
    """
    by_facet = any(request.filters.values(facet) for facet in FACETS)
    years, params = year_conditions(request.filters)
    params.update(limit=request.limit, offset=request.offset)
    if request.browsing and not by_facet:  # only years: the document rows alone
        if not request.staff:
            years.append(PUBLIC)
            params["today"] = request.today.isoformat()
        source, where = f"{DOC} d", " AND ".join(years)
        counted = where
        page_sql = (
            f"SELECT d.rowid FROM {source} WHERE {where} ORDER BY {ORDER[request.order]}"
            " LIMIT :limit OFFSET :offset"
        )
    else:
        params["match"] = match_expression(request.query, request.filters, hidden)
        # FTS5 first, each match then joined to its narrow document row by rowid.
        source = f"{FTS} CROSS JOIN {DOC} d ON d.rowid = {FTS}.rowid"
        where = counted = " AND ".join([f"{FTS} MATCH :match", *years])
        if hidden:
            # The counts read each match's document row anyway, and its columns say what is
            # hidden: cheaper than FTS5 leaving out the restriction tokens (4.3 against 5.5
            # ms for 1,500 matches at 200,000 items). The page keeps them: it reads no row.
            params["counted"] = match_expression(request.query, request.filters)
            params["today"] = request.today.isoformat()
            counted = " AND ".join([f"{FTS} MATCH :counted", *years, PUBLIC])
        if request.order == "relevance":  # only the rows that pass are ranked
            page_sql = (
                f"SELECT {FTS}.rowid FROM {source if years else FTS} WHERE {where}"
                f" ORDER BY {RANK} LIMIT :limit OFFSET :offset"
            )
        else:
            matched = f"d.rowid IN (SELECT rowid FROM {FTS} WHERE {FTS} MATCH :match)"
            page_sql = (
                f"SELECT d.rowid FROM {DOC} d WHERE {' AND '.join([matched, *years])}"
                f" ORDER BY {ORDER[request.order]} LIMIT :limit OFFSET :offset"
            )
    if request.facets:
        counts_sql = (
            "SELECT c.collection, c.languages, c.types, c.century, g.n FROM (SELECT d.combo"
            f" AS combo, count(*) AS n FROM {source} WHERE {counted} GROUP BY d.combo) g"
            f" JOIN {COMBO} c ON c.id = g.combo"
        )
    else:
        counts_sql = f"SELECT '', '', '', NULL, count(*) FROM {source} WHERE {counted}"
    return page_sql, counts_sql, params


def _next_generation(connection: Connection) -> None:
    """In a write's own transaction: every answer kept for the last generation is stale."""
    connection.execute(text(f"UPDATE {META} SET generation = generation + 1"))


def _embargoes(connection: Connection, today: date) -> list[str]:
    """The days on which the embargoes still running today end."""
    rows = connection.execute(
        text(
            f"SELECT DISTINCT embargo_until FROM {DOC}"
            " WHERE embargo_until IS NOT NULL AND embargo_until > :today"
        ),
        {"today": today.isoformat()},
    )
    return [str(value) for (value,) in rows]


class _Pool:
    """The threads that run counts statements beside the page, made on first use in each
    process: a worker forked from a process that had searched (gunicorn's preload) would
    otherwise inherit an executor whose threads did not come with it, and wait forever."""

    executor: ThreadPoolExecutor | None = None
    lock = threading.Lock()
    watching_forks = False  # the fork hook is set with the first pool, not at import

    @classmethod
    def forget(cls) -> None:
        cls.executor, cls.lock = None, threading.Lock()


def _counting_pool() -> ThreadPoolExecutor:
    with _Pool.lock:
        if _Pool.executor is None:
            if not _Pool.watching_forks:
                os.register_at_fork(after_in_child=_Pool.forget)
                _Pool.watching_forks = True
            _Pool.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="search-counts")
        return _Pool.executor


def _facets(counted: list[Any]) -> dict[str, tuple[tuple[str, int], ...]]:
    """Counts per facet value from counts per combination of values (hundreds of rows for
    a search: plain dicts and no Counter, which took twice as long)."""
    collections: dict[str, int] = {}
    languages: dict[str, int] = {}
    types: dict[str, int] = {}
    centuries: dict[str, int] = {}
    for collection, language_values, type_values, era, count in counted:
        number = int(count)
        if collection:
            collections[collection] = collections.get(collection, 0) + number
        if language_values:
            for value in language_values.split(SEPARATOR):
                languages[value] = languages.get(value, 0) + number
        if type_values:
            for value in type_values.split(SEPARATOR):
                types[value] = types.get(value, 0) + number
        if era is not None:
            key = str(era)
            centuries[key] = centuries.get(key, 0) + number
    tallies = {
        "collection": collections,
        "language": languages,
        "type": types,
        "century": centuries,
    }
    return {
        name: tuple(sorted(tally.items(), key=lambda pair: (-pair[1], pair[0]))[:FACET_LIMIT])
        for name, tally in tallies.items()
        if tally
    }
