"""SQLite FTS5 search over folded text: the embedded default."""

from __future__ import annotations

from sqlalchemy import Engine, text

from . import Hit, Query, Results, SearchDocument

TABLE = "search_fts"


def match_expression(query: Query) -> str:
    """An FTS5 MATCH string built only from word tokens, each quoted: no syntax gets in."""
    terms = [f'"{word}"' for word in query.words]
    terms += ['"' + " ".join(phrase) + '"' for phrase in query.phrases]
    return " AND ".join(terms)


class SqliteFts:
    """An FTS5 table beside the database: item_id, title and text, all folded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
                    "item_id UNINDEXED, title, body, tokenize='unicode61 remove_diacritics 2')"
                )
            )

    def index(self, documents: list[SearchDocument]) -> None:
        from . import fold

        with self.engine.begin() as connection:
            for document in documents:
                connection.execute(
                    text(f"DELETE FROM {TABLE} WHERE item_id = :id"), {"id": document.item_id}
                )
                connection.execute(
                    text(f"INSERT INTO {TABLE} (item_id, title, body) VALUES (:id, :t, :b)"),
                    {"id": document.item_id, "t": fold(document.title), "b": fold(document.text)},
                )

    def remove(self, item_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(f"DELETE FROM {TABLE} WHERE item_id = :id"), {"id": item_id})

    def clear(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(f"DELETE FROM {TABLE}"))

    def search(self, query: Query, allowed: set[str] | None, offset: int, limit: int) -> Results:
        """Ranked hits; ``allowed`` limits them to the item ids the reader may see."""
        if query.empty:
            return Results()
        sql = (
            f"SELECT item_id, snippet({TABLE}, -1, '[[', ']]', '…', 24) "
            f"FROM {TABLE} WHERE {TABLE} MATCH :match ORDER BY bm25({TABLE}, 0, 5.0, 1.0)"
        )
        with self.engine.connect() as connection:
            rows = connection.execute(text(sql), {"match": match_expression(query)}).all()
        hits = [Hit(str(r[0]), str(r[1])) for r in rows if allowed is None or r[0] in allowed]
        return Results(tuple(hits[offset : offset + limit]), len(hits))
