"""SQLite FTS5 search over folded text: the embedded default.

Three tables, all rebuilt by `tangthu reindex` and never migrated:
- ``search_doc``: one row per published item, with its original text for snippets and
  what filters and sorts need (access, embargo, years, collection, sort title);
- ``search_fts``: the FTS5 index of the folded title, metadata and OCR text, sharing
  ``search_doc``'s rowid;
- ``search_facet``: (doc, facet, value) for counting and filtering facets.
"""

from __future__ import annotations

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

DOC, FTS, FACET = "search_doc", "search_fts", "search_facet"
FACET_LIMIT = 30
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {DOC} (rowid INTEGER PRIMARY KEY, item_id TEXT NOT NULL UNIQUE,"
    " title TEXT NOT NULL, body TEXT NOT NULL, ocr TEXT NOT NULL, sort_title TEXT NOT NULL,"
    " year_start INTEGER, year_end INTEGER, collection TEXT NOT NULL, access TEXT NOT NULL,"
    " embargo_until TEXT)",
    f"CREATE INDEX IF NOT EXISTS {DOC}_title ON {DOC} (sort_title)",
    f"CREATE INDEX IF NOT EXISTS {DOC}_year ON {DOC} (year_start)",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(title, body, ocr,"
    " tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TABLE IF NOT EXISTS {FACET} (doc INTEGER NOT NULL, facet TEXT NOT NULL,"
    " value TEXT NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {FACET}_value ON {FACET} (facet, value, doc)",
    f"CREATE INDEX IF NOT EXISTS {FACET}_doc ON {FACET} (doc)",
)
ORDER = {
    "relevance": "m.score, d.sort_title",
    "title": "d.sort_title, d.rowid",
    "date": "d.year_start IS NULL, d.year_start, d.sort_title",
    "-date": "d.year_start IS NULL, d.year_start DESC, d.sort_title",
}


def match_expression(query: Query) -> str:
    """An FTS5 MATCH string built only from word tokens, each quoted: no syntax gets in."""
    terms = [f'"{word}"' for word in query.words]
    terms += ['"' + " ".join(phrase) + '"' for phrase in query.phrases]
    return " AND ".join(terms)


def conditions(request: SearchRequest) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions on search_doc ``d`` for visibility and facets, with their parameters."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if not request.staff:
        where.append(
            "d.access != 'staff' AND (d.embargo_until IS NULL OR d.embargo_until <= :today)"
        )
        params["today"] = request.today.isoformat()
    filters: Filters = request.filters
    for facet in FACETS:
        values = filters.values(facet)
        if not values:
            continue
        names = []
        for number, value in enumerate(values):
            params[f"{facet}{number}"] = value
            names.append(f":{facet}{number}")
        where.append(
            f"d.rowid IN (SELECT doc FROM {FACET} WHERE facet = '{facet}'"
            f" AND value IN ({', '.join(names)}))"
        )
    if filters.year_to is not None:
        where.append("d.year_start <= :year_to")
        params["year_to"] = filters.year_to
    if filters.year_from is not None:
        where.append("coalesce(d.year_end, d.year_start) >= :year_from")
        params["year_from"] = filters.year_from
    return where, params


class SqliteFts:
    """The index in SQLite: the application's database file, or a file of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with self.engine.begin() as connection:
            for statement in SCHEMA:
                connection.execute(text(statement))

    def index(self, documents: list[SearchDocument]) -> None:
        with self.engine.begin() as connection:
            self._index(connection, documents)

    def rebuild(self, batches: Iterable[list[SearchDocument]]) -> int:
        """Replace the whole index in one transaction: searches see the old one until then."""
        count = 0
        with self.engine.begin() as connection:
            for table in (FTS, FACET, DOC):
                connection.execute(text(f"DELETE FROM {table}"))
            for batch in batches:
                self._index(connection, batch)
                count += len(batch)
        return count

    def _index(self, connection: Connection, documents: list[SearchDocument]) -> None:
        for document in documents:
            self._delete(connection, document.item_id)
            rowid = connection.execute(
                text(
                    f"INSERT INTO {DOC} (item_id, title, body, ocr, sort_title, year_start,"
                    " year_end, collection, access, embargo_until) VALUES (:id, :title,"
                    " :body, :ocr, :sort, :ys, :ye, :collection, :access, :embargo)"
                    " RETURNING rowid"
                ),
                {
                    "id": document.item_id,
                    "title": document.title,
                    "body": document.text,
                    "ocr": document.ocr,
                    "sort": document.sort_title,
                    "ys": document.year_start,
                    "ye": document.year_end,
                    "collection": document.collection,
                    "access": document.access,
                    "embargo": document.embargo_until.isoformat()
                    if document.embargo_until
                    else None,
                },
            ).scalar_one()
            connection.execute(
                text(f"INSERT INTO {FTS} (rowid, title, body, ocr) VALUES (:r, :t, :b, :o)"),
                {
                    "r": rowid,
                    "t": fold(document.title),
                    "b": fold(document.text),
                    "o": fold(document.ocr),
                },
            )
            facets = [
                {"doc": rowid, "facet": facet, "value": value[:200]}
                for facet, values in document.facet_values().items()
                for value in values
                if value
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
        for table, column in ((FTS, "rowid"), (FACET, "doc"), (DOC, "rowid")):
            connection.execute(text(f"DELETE FROM {table} WHERE {column} = :r"), {"r": rowid})

    def remove(self, item_id: str) -> None:
        with self.engine.begin() as connection:
            self._delete(connection, item_id)

    def clear(self) -> None:
        with self.engine.begin() as connection:
            for table in (FTS, FACET, DOC):
                connection.execute(text(f"DELETE FROM {table}"))

    def search(self, request: SearchRequest) -> Results:
        """One page of hits, the total, and facet counts over everything that matched."""
        if request.browsing and request.filters.empty:
            return Results()
        where, params = conditions(request)
        if request.browsing:
            matched = f"SELECT d.rowid AS doc, 0 AS score FROM {DOC} d"
        else:
            params["match"] = match_expression(request.query)
            matched = (
                f"SELECT d.rowid AS doc, bm25({FTS}, 5.0, 1.0, 1.0) AS score FROM {FTS}"
                f" JOIN {DOC} d ON d.rowid = {FTS}.rowid WHERE {FTS} MATCH :match"
            )
        if where:
            matched += (" AND " if not request.browsing else " WHERE ") + " AND ".join(where)
        page_sql = (
            f"WITH m AS MATERIALIZED ({matched}) SELECT d.item_id, d.title, d.body, d.ocr"
            f" FROM m JOIN {DOC} d ON d.rowid = m.doc ORDER BY {ORDER[request.order]}"
            " LIMIT :limit OFFSET :offset"
        )
        counts_sql = f"WITH m AS MATERIALIZED ({matched}) SELECT '', '', count(*) FROM m" + (
            f" UNION ALL SELECT f.facet, f.value, count(*) FROM m JOIN {FACET} f"
            " ON f.doc = m.doc GROUP BY f.facet, f.value"
            " UNION ALL SELECT 'century', CASE WHEN d.year_start >= 0 THEN d.year_start / 100"
            " ELSE -((99 - d.year_start) / 100) END, count(*)"
            f" FROM m JOIN {DOC} d ON d.rowid = m.doc WHERE d.year_start IS NOT NULL"
            " GROUP BY 2"
            if request.facets
            else ""
        )
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(page_sql), {**params, "limit": request.limit, "offset": request.offset}
            ).all()
            counted = connection.execute(text(counts_sql), params).all()
        total = int(counted[0][2])
        facets: dict[str, list[tuple[str, int]]] = {}
        for facet, value, count in counted[1:]:
            facets.setdefault(str(facet), []).append((str(value), int(count)))
        hits = tuple(
            Hit(str(item_id), make_snippet([body, ocr, title], request.query))
            for item_id, title, body, ocr in rows
        )
        return Results(hits, total, {k: _top(v) for k, v in facets.items()})


def _top(counts: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts, key=lambda pair: (-pair[1], pair[0]))[:FACET_LIMIT])
