"""Hán-Nôm in search: each Han character is a word, a run of them is a phrase."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine

from repository.search import (
    HAN,
    Query,
    SearchDocument,
    SearchRequest,
    make_snippet,
    parse_query,
    separate_han,
)
from repository.search.sqlite_fts import SqliteFts, indexed, match_expression

NOM = "\U00021a38"  # 𡨸, chữ: Nôm, in Extension B
BOOKS = [
    SearchDocument("h1", "大越史記全書", "吳士連 撰", collection="han-nom", languages=("lzh",)),
    SearchDocument(
        "h2", "Đại Việt sử ký toàn thư 大越史記全書", "Ngô Sĩ Liên", collection="han-nom"
    ),
    SearchDocument("h3", f"傳{NOM}喃", "Truyện chữ Nôm", collection="han-nom"),
    # Extension G and H, past what Python 3.11's Unicode tables know.
    SearchDocument("h4", "\U00030000\U00030001\U00031350 ký", "Thư tịch", collection="han-nom"),
    SearchDocument("h5", "Sổ bộ", "Bản sao chép từ sách 史記 đời Hán", collection="han-nom"),
    SearchDocument("h6", "史記 mật", "Bản mật", collection="han-nom", hidden=True),
    SearchDocument("h7", "史記 cấm", "Bản cấm", embargo_until=date(2999, 1, 1)),
]


@pytest.fixture
def backend(tmp_path: Path) -> SqliteFts:
    fts = SqliteFts(create_engine(f"sqlite:///{tmp_path / 'search.sqlite'}"))
    assert fts.rebuild([BOOKS]) == len(BOOKS)
    return fts


def ids(backend: SqliteFts, text: str, **options: object) -> list[str]:
    request = SearchRequest(parse_query(text), **options)  # type: ignore[arg-type]
    return [hit.item_id for hit in backend.search(request).hits]


@pytest.mark.parametrize("text", ["史記", "大越", "全書", "記", "大越史記全書", "越史記全"])
def test_any_run_of_a_han_title_finds_it(backend: SqliteFts, text: str) -> None:
    assert {"h1", "h2"} <= set(ids(backend, text))


def test_characters_that_are_not_together_are_not_a_match(backend: SqliteFts) -> None:
    assert ids(backend, "史全") == []
    assert ids(backend, "書全") == []
    assert set(ids(backend, "史 全")) == {"h1", "h2"}  # two words: both, anywhere


def test_a_mixed_title_is_found_by_either_part(backend: SqliteFts) -> None:
    assert ids(backend, "dai viet") == ["h2"]
    assert "h2" in ids(backend, "史記")
    assert ids(backend, "dai viet 史記") == ["h2"]
    assert ids(backend, '"toan thu 大越"') == ["h2"]


def test_nom_beyond_the_basic_plane(backend: SqliteFts) -> None:
    assert ids(backend, f"{NOM}喃") == ["h3"]
    assert ids(backend, f"傳{NOM}") == ["h3"]
    assert ids(backend, NOM) == ["h3"]
    assert ids(backend, f"喃{NOM}") == []
    assert ids(backend, "\U00030000\U00030001") == ["h4"]
    assert ids(backend, "\U00030001\U00031350 ky") == ["h4"]


def test_snippets_mark_the_original_characters(backend: SqliteFts) -> None:
    hits = backend.search(SearchRequest(parse_query("史記"))).hits
    snippets = {hit.item_id: hit.snippet for hit in hits}
    assert snippets["h1"] == "大越[[史記]]全書"
    assert snippets["h2"] == "Đại Việt sử ký toàn thư 大越[[史記]]全書"
    assert snippets["h5"] == "Bản sao chép từ sách [[史記]] đời Hán"
    both = make_snippet(["Đại Việt sử ký 大越史記"], parse_query("dai 越史"))
    assert both == "[[Đại]] Việt sử ký 大[[越史]]記"
    # A character of the run alone, elsewhere, is not marked.
    assert make_snippet(["史書 史記"], parse_query("史記")) == "史書 [[史記]]"
    assert make_snippet([f"傳{NOM}喃"], parse_query(NOM)) == f"傳[[{NOM}]]喃"


def test_a_long_han_text_without_a_match_is_cut() -> None:
    snippet = make_snippet(["大" * 1000], Query(("zzz",)))
    assert len(snippet) < 300 and snippet.endswith("…")


def test_a_title_match_ranks_above_a_text_match(backend: SqliteFts) -> None:
    found = ids(backend, "史記")
    assert found.index("h1") < found.index("h5") and found.index("h2") < found.index("h5")


def test_staff_only_and_embargoed_stay_hidden(backend: SqliteFts) -> None:
    public = set(ids(backend, "史記"))
    assert public == {"h1", "h2", "h5"}
    assert {"h6", "h7"} <= set(ids(backend, "史記", staff=True))
    assert "h6" not in ids(backend, "記", today=date(2999, 1, 1))
    assert "h7" in ids(backend, "記", today=date(2999, 1, 1))


@pytest.mark.pure
def test_queries_keep_han_runs_whole_and_match_them_as_phrases() -> None:
    assert parse_query("Sử ký史記 大越") == Query(("su", "ky", "史記", "大越"))
    assert match_expression(parse_query("史記 全")) == '"史 記" AND "全"'
    assert match_expression(parse_query('"sử ký 史記"')) == '"su ky 史 記"'
    assert indexed("Sử ký 大越史記").split() == ["su", "ky", "大", "越", "史", "記"]


@pytest.mark.pure
def test_every_han_code_point_is_one_fts5_token() -> None:
    """unicode61 keeps each Han character, across every block, as a token of its own."""
    ranges = [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF)]
    assert HAN == "".join(f"{chr(low)}-{chr(high)}" for low, high in ranges)
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')"
    )
    connection.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
    for low, high in ranges:
        characters = "".join(chr(c) for c in range(low, high + 1))
        connection.execute("DELETE FROM t")
        connection.execute("INSERT INTO t VALUES (?)", (separate_han(characters),))
        terms = {term for (term,) in connection.execute("SELECT term FROM v")}
        assert terms == set(characters), hex(low)


def test_the_search_page_finds_and_marks_han(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, make_pages
) -> None:
    """Through ingest, publishing and the page: a draft stays out of a Hán search too."""
    from repository.extensions import db
    from repository.models import Item

    ids = {}
    for number, (title, publish) in enumerate(
        [(f"大越史記全書 {NOM}喃", True), ("史記秘本", False)]
    ):
        folder = make_pages(count=1, name=f"h{number}", width=300 + number * 7)
        args = ["ingest", str(folder), "--collection", "c", "--title", title]
        assert runner.invoke(args=[*args, "--publish"] if publish else args).exit_code == 0
        with app.app_context():
            query = db.select(Item).order_by(Item.created_at.desc())
            ids[title] = db.session.execute(query).scalars().first().id
    assert runner.invoke(args=["reindex"]).exit_code == 0
    published, draft = ids.values()
    page = client.get("/search", query_string={"q": "史記"}).get_data(as_text=True)
    assert published in page and draft not in page
    assert "<mark>史記</mark>" in page
    page = client.get("/search", query_string={"q": f"{NOM}喃"}).get_data(as_text=True)
    assert published in page and f"<mark>{NOM}喃</mark>" in page
