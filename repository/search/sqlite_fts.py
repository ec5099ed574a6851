"""SQLite FTS5 search over folded text: the embedded default.

Tables, all rebuilt by `tangthu reindex` and never migrated:
- ``search_doc``: one narrow row per published item, what filters, sorts and facet
  counts read (sort title, years, century, collection, languages and types joined with
  "|", and whether it is hidden from the public). Narrow rows keep facet counting over
  tens of thousands of matches cheap;
- ``search_text``: the original title, metadata and OCR text, read only for the page of
  hits, to cut snippets with their diacritics;
- ``search_fts``: the FTS5 index of the folded texts, sharing ``search_doc``'s rowid,
  ranked by BM25 with the title weighted five times;
- ``search_facet``: (doc, facet, value) for filtering by facet values;
- ``search_meta``: the layout's version; another version's tables are dropped and the
  index is rebuilt from the database.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, text

from . import (
    FACETS,
    Filters,
    Hit,
    Query,
    Results,
    SearchDocument,
    SearchRequest,
    fold,
    make_snippet,
)

DOC, TEXT, FTS, FACET, META = (
    "search_doc",
    "search_text",
    "search_fts",
    "search_facet",
    "search_meta",
)
VERSION = "4"
FACET_LIMIT = 30
SEPARATOR = "|"
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {META} (version TEXT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {DOC} (rowid INTEGER PRIMARY KEY, item_id TEXT NOT NULL UNIQUE,"
    " sort_title TEXT NOT NULL, year_start INTEGER, year_end INTEGER, year_last INTEGER,"
    " century INTEGER,"
    " collection TEXT NOT NULL, languages TEXT NOT NULL, types TEXT NOT NULL,"
    " hidden INTEGER NOT NULL, embargo_until TEXT)",
    f"CREATE INDEX IF NOT EXISTS {DOC}_title ON {DOC} (sort_title)",
    # Both ends of an item's years in one index: a year range is read from it alone.
    f"CREATE INDEX IF NOT EXISTS {DOC}_year ON {DOC} (year_start, year_last)",
    # The few documents the public may not see, found without reading the others.
    f"CREATE INDEX IF NOT EXISTS {DOC}_restricted ON {DOC} (embargo_until)"
    " WHERE hidden = 1 OR embargo_until IS NOT NULL",
    f"CREATE TABLE IF NOT EXISTS {TEXT} (rowid INTEGER PRIMARY KEY, title TEXT NOT NULL,"
    " body TEXT NOT NULL, ocr TEXT NOT NULL)",
    # "facets" holds one made-up token per facet value, so a facet filter is part of the
    # MATCH and FTS5 intersects it with the words itself; it does not count for ranking.
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(title, body, ocr, facets,"
    " tokenize='unicode61 remove_diacritics 2')",
    f"INSERT INTO {FTS} ({FTS}, rank) VALUES ('rank', 'bm25(5.0, 1.0, 1.0, 0.0)')",
    f"CREATE TABLE IF NOT EXISTS {FACET} (doc INTEGER NOT NULL, facet TEXT NOT NULL,"
    " value TEXT NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {FACET}_value ON {FACET} (facet, value, doc)",
    f"CREATE INDEX IF NOT EXISTS {FACET}_doc ON {FACET} (doc)",
)
TABLES = (FTS, FACET, TEXT, DOC)
ORDER = {
    "title": "d.sort_title, d.rowid",
    "date": "d.year_start IS NULL, d.year_start, d.sort_title",
    "-date": "d.year_start IS NULL, d.year_start DESC, d.sort_title",
}


def match_expression(query: Query, filters: Filters | None = None) -> str:
    """An FTS5 MATCH string built only from word tokens, each quoted, and our own facet
    tokens: no syntax typed by anyone gets in."""
    terms = [f'"{word}"' for word in query.words]
    terms += ['"' + " ".join(phrase) + '"' for phrase in query.phrases]
    for facet in FACETS:
        values = filters.values(facet) if filters else ()
        if values:
            tokens = " OR ".join(f'"{facet_token(facet, v)}"' for v in values)
            terms.append(f"facets : ({tokens})")
    return " AND ".join(terms)


def facet_token(facet: str, value: str) -> str:
    """A word no text contains, standing for one facet value."""
    digest = hashlib.blake2b(f"{facet}\x00{value}".encode(), digest_size=8).hexdigest()
    return f"zz{facet[0]}{digest}"


def century(year: int | None) -> int | None:
    return None if year is None else year // 100


def conditions(
    request: SearchRequest, column: str, facets: bool = True
) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions on a rowid ``column`` for visibility and facets, with parameters.

    Each is a membership test, so it can stand beside an FTS5 MATCH without reading the
    document rows.
    """
    where: list[str] = []
    params: dict[str, Any] = {}
    # Beside a MATCH, "+rowid" keeps SQLite from handing FTS5 each candidate rowid to
    # match one by one (seconds for a common facet); FTS5 matches once, then we filter.
    column = column if column.startswith("d.") else f"+{column}"
    if not request.staff:
        where.append(
            f"{column} NOT IN (SELECT rowid FROM {DOC} WHERE (hidden = 1 OR embargo_until IS NOT"
            " NULL) AND (hidden = 1 OR embargo_until > :today))"
        )
        params["today"] = request.today.isoformat()
    filters: Filters = request.filters
    for facet in FACETS if facets else ():
        values = filters.values(facet)
        if not values:
            continue
        names = []
        for number, value in enumerate(values):
            params[f"{facet}{number}"] = value
            names.append(f":{facet}{number}")
        where.append(
            f"{column} IN (SELECT doc FROM {FACET} WHERE facet = '{facet}'"
            f" AND value IN ({', '.join(names)}))"
        )
    years = []
    if filters.year_to is not None:
        years.append("year_start <= :year_to")
        params["year_to"] = filters.year_to
    if filters.year_from is not None:
        years.append("year_last >= :year_from")
        params["year_from"] = filters.year_from
    if years:
        where.append(f"{column} IN (SELECT rowid FROM {DOC} WHERE {' AND '.join(years)})")
    return where, params


class SqliteFts:
    """The index in SQLite: the application's database file, or a file of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.needs_rebuild = False
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
            for table in (*TABLES, META):
                connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
            for statement in SCHEMA:
                connection.execute(text(statement))
            connection.execute(text(f"INSERT INTO {META} (version) VALUES (:v)"), {"v": VERSION})
            self.needs_rebuild = bool(tables & {DOC, FTS})

    def index(self, documents: list[SearchDocument]) -> None:
        with self.engine.begin() as connection:
            self._index(connection, documents)

    def rebuild(self, batches: Iterable[list[SearchDocument]]) -> int:
        """Replace the whole index in one transaction: searches see the old one until then."""
        count = 0
        with self.engine.begin() as connection:
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))
            for batch in batches:
                self._index(connection, batch)
                count += len(batch)
        self.needs_rebuild = False
        return count

    def _index(self, connection: Connection, documents: list[SearchDocument]) -> None:
        for document in documents:
            self._delete(connection, document.item_id)
            values = {  # "|" joins values in search_doc, so it may not be inside one
                facet: tuple(v.replace(SEPARATOR, "/")[:200] for v in chosen if v)
                for facet, chosen in document.facet_values().items()
            }
            rowid = connection.execute(
                text(
                    f"INSERT INTO {DOC} (item_id, sort_title, year_start, year_end, year_last,"
                    " century, collection, languages, types, hidden, embargo_until) VALUES (:id,"
                    " :sort, :ys, :ye, :last, :century, :collection, :languages, :types, :hidden,"
                    " :embargo)"
                    " RETURNING rowid"
                ),
                {
                    "id": document.item_id,
                    "sort": document.sort_title,
                    "ys": document.year_start,
                    "ye": document.year_end,
                    "last": document.year_start if document.year_end is None else document.year_end,
                    "century": century(document.year_start),
                    "collection": document.collection[:200],
                    "languages": SEPARATOR.join(sorted(values["language"])),
                    "types": SEPARATOR.join(sorted(values["type"])),
                    "hidden": int(document.access == "staff"),
                    "embargo": document.embargo_until.isoformat()
                    if document.embargo_until
                    else None,
                },
            ).scalar_one()
            connection.execute(
                text(f"INSERT INTO {TEXT} (rowid, title, body, ocr) VALUES (:r, :t, :b, :o)"),
                {"r": rowid, "t": document.title, "b": document.text, "o": document.ocr},
            )
            connection.execute(
                text(
                    f"INSERT INTO {FTS} (rowid, title, body, ocr, facets)"
                    " VALUES (:r, :t, :b, :o, :f)"
                ),
                {
                    "r": rowid,
                    "t": fold(document.title),
                    "b": fold(document.text),
                    "o": fold(document.ocr),
                    "f": " ".join(
                        facet_token(facet, value)
                        for facet, chosen in values.items()
                        for value in chosen
                    ),
                },
            )
            facets = [
                {"doc": rowid, "facet": facet, "value": value}
                for facet, chosen in values.items()
                for value in chosen
            ]
            if facets:
                connection.execute(
                    text(f"INSERT INTO {FACET} (doc, facet, value) VALUES (:doc, :facet, :value)"),
                    facets,
                )

    @staticmethod
    def _delete(connection: Connection, item_id: str) -> None:
        rowid = connection.execute(
            text(f"SELECT rowid FROM {DOC} WHERE item_id = :id"), {"id": item_id}
        ).scalar()
        if rowid is None:
            return
        for table, column in ((FTS, "rowid"), (FACET, "doc"), (TEXT, "rowid"), (DOC, "rowid")):
            connection.execute(text(f"DELETE FROM {table} WHERE {column} = :r"), {"r": rowid})

    def remove(self, item_id: str) -> None:
        with self.engine.begin() as connection:
            self._delete(connection, item_id)

    def clear(self) -> None:
        with self.engine.begin() as connection:
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))

    def search(self, request: SearchRequest) -> Results:
        """One page of hits, the total, and facet counts over everything that matched."""
        if request.browsing and request.filters.empty:
            return Results()
        params: dict[str, Any] = {"limit": request.limit, "offset": request.offset}
        by_facet = any(request.filters.values(facet) for facet in FACETS)
        direct = request.browsing and not by_facet  # only years: no MATCH at all
        if direct:
            where, extra = conditions(request, "d.rowid")
            matches = " AND ".join(where) or "1"
        else:
            where, extra = conditions(request, f"{FTS}.rowid", facets=False)
            params["match"] = match_expression(request.query, request.filters)
            matches = " AND ".join([f"{FTS} MATCH :match", *where])
        params.update(extra)
        if request.order == "relevance":  # FTS5 ranks and sorts by itself
            page_sql = (
                f"SELECT rowid FROM {FTS} WHERE {matches} ORDER BY rank LIMIT :limit OFFSET :offset"
            )
            matched = f"d.rowid IN (SELECT rowid FROM {FTS} WHERE {matches})"
        else:
            matched = matches if direct else f"d.rowid IN (SELECT rowid FROM {FTS} WHERE {matches})"
            page_sql = (
                f"SELECT d.rowid FROM {DOC} d WHERE {matched} ORDER BY {ORDER[request.order]}"
                " LIMIT :limit OFFSET :offset"
            )
        # Counted from the match itself, each matching row joined to its narrow document.
        source = f"{DOC} d" if direct else f"{FTS} JOIN {DOC} d ON d.rowid = {FTS}.rowid"
        if request.facets:
            counts_sql = (
                f"SELECT d.collection, d.languages, d.types, d.century, count(*) FROM {source}"
                f" WHERE {matches} GROUP BY 1, 2, 3, 4"
            )
        else:
            counts_sql = f"SELECT '', '', '', NULL, count(*) FROM {source} WHERE {matches}"
        with self.engine.connect() as connection:
            page = [row[0] for row in connection.execute(text(page_sql), params)]
            counted = connection.execute(text(counts_sql), params).all()
            texts = self._texts(connection, page)
        total = sum(int(row[4]) for row in counted)
        facets = _facets(counted) if request.facets else {}
        hits = tuple(
            Hit(item_id, make_snippet([body, ocr, title], request.query))
            for item_id, title, body, ocr in (texts[rowid] for rowid in page if rowid in texts)
        )
        return Results(hits, total, facets)

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


def _facets(counted: list[Any]) -> dict[str, tuple[tuple[str, int], ...]]:
    """Counts per facet value from counts per combination of values."""
    tallies: dict[str, Counter[str]] = {name: Counter() for name in (*FACETS, "century")}
    for collection, languages, types, era, count in counted:
        number = int(count)
        if collection:
            tallies["collection"][str(collection)] += number
        for value in str(languages).split(SEPARATOR) if languages else ():
            tallies["language"][value] += number
        for value in str(types).split(SEPARATOR) if types else ():
            tallies["type"][value] += number
        if era is not None:
            tallies["century"][str(era)] += number
    return {
        name: tuple(sorted(tally.items(), key=lambda pair: (-pair[1], pair[0]))[:FACET_LIMIT])
        for name, tally in tallies.items()
        if tally
    }
