"""Search: Vietnamese without diacritics, phrases, hostile queries, access, reindex."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.search import Query, fold, parse_query
from repository.search.sqlite_fts import match_expression


@pytest.mark.pure
@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Nguyễn Đình Chiểu", "nguyen dinh chieu"),
        ("Đại Việt sử ký", "dai viet su ky"),
        ("ĐẠI VIỆT", "dai viet"),
        ("Tự Đức năm thứ 3", "tu duc nam thu 3"),
        ("斷腸新聲", "斷腸新聲"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.pure
def test_queries_become_quoted_terms_only() -> None:
    assert parse_query('Đại "Việt sử" ký') == Query(("dai", "ky"), (("viet", "su"),))
    assert (
        match_expression(parse_query('a NEAR(b) -c "d e'))
        == '"a" AND "near" AND "b" AND "c" AND "d" AND "e"'
    )
    assert parse_query("").empty and parse_query('"" * - ( )').empty


@pytest.fixture
def catalogue(app: Flask, runner: FlaskCliRunner, make_pages) -> dict[str, str]:
    """Two published items and one draft, described by title and creator."""
    from repository.extensions import db
    from repository.models import Item

    ids = {}
    books = [
        ("Văn tế nghĩa sĩ Cần Giuộc", "Nguyễn Đình Chiểu", True),
        ("Đại Việt sử ký toàn thư", "Ngô Sĩ Liên", True),
        ("Sổ bộ mật", "Khuyết danh", False),
    ]
    for number, (title, creator, publish) in enumerate(books):
        folder = make_pages(count=1, name=f"b{number}", width=300 + number * 7)
        args = ["ingest", str(folder), "--collection", "c", "--title", title]
        assert runner.invoke(args=[*args, "--publish"] if publish else args).exit_code == 0
        with app.app_context():
            item = (
                db.session.execute(db.select(Item).order_by(Item.created_at.desc()))
                .scalars()
                .first()
            )
            item.dc = {"creator": [{"value": creator, "lang": "vi"}]}
            db.session.commit()
            ids[title] = item.id
    assert runner.invoke(args=["reindex"]).exit_code == 0
    return ids


def hits(client: FlaskClient, query: str) -> str:
    response = client.get("/search", query_string={"q": query})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_diacritics_are_optional(client: FlaskClient, catalogue: dict[str, str]) -> None:
    assert catalogue["Văn tế nghĩa sĩ Cần Giuộc"] in hits(client, "nguyen dinh chieu")
    assert catalogue["Đại Việt sử ký toàn thư"] in hits(client, "Dai Viet")
    assert catalogue["Đại Việt sử ký toàn thư"] in hits(client, "ĐẠI VIỆT")
    assert "<mark>" in hits(client, "dai viet")


def test_exact_phrases(client: FlaskClient, catalogue: dict[str, str]) -> None:
    assert catalogue["Đại Việt sử ký toàn thư"] in hits(client, '"viet su ky"')
    assert catalogue["Đại Việt sử ký toàn thư"] not in hits(client, '"su viet"')


def test_unpublished_items_never_appear(client: FlaskClient, catalogue: dict[str, str]) -> None:
    assert catalogue["Sổ bộ mật"] not in hits(client, "so bo mat")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "x" * 10_000,
        '"',
        '"unbalanced',
        "NEAR(a b)",
        "a* OR -b",
        "'; DROP TABLE item; --",
        "title:x",
        "^a",
        "(((",
        "\x00",
    ],
)
def test_hostile_queries_never_fail(
    client: FlaskClient, catalogue: dict[str, str], query: str
) -> None:
    response = client.get("/search", query_string={"q": query})
    assert response.status_code == 200
    assert "Traceback" not in response.get_data(as_text=True)


# The backend itself, on a SQLite file of its own: facets, sorting, paging, visibility.

from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

from sqlalchemy import create_engine  # noqa: E402

from repository.search import (  # noqa: E402
    Filters,
    SearchDocument,
    SearchRequest,
    make_snippet,
    parse_filters,
)
from repository.search.sqlite_fts import SqliteFts  # noqa: E402

BOOKS = [
    SearchDocument(
        "a1",
        "Truyện Kiều",
        "Nguyễn Du. Đoạn trường tân thanh",
        collection="han-nom",
        languages=("vi", "lzh"),
        types=("Text",),
        year_start=1820,
        year_end=1820,
    ),
    SearchDocument(
        "a2",
        "Đại Việt sử ký toàn thư",
        "Ngô Sĩ Liên. Quốc sử",
        collection="han-nom",
        languages=("lzh",),
        types=("Text",),
        year_start=1697,
        year_end=1697,
    ),
    SearchDocument(
        "a3",
        "Bản đồ Gia Định",
        "Bản đồ tỉnh Gia Định",
        collection="maps",
        languages=("vi",),
        types=("Map",),
        year_start=1815,
        year_end=1830,
    ),
    SearchDocument(
        "a4",
        "Văn tế nghĩa sĩ Cần Giuộc",
        "Nguyễn Đình Chiểu",
        collection="han-nom",
        languages=("vi",),
        types=("Text",),
        year_start=1861,
    ),
    SearchDocument("a5", "Sổ mật", "Nguyễn triều mật", collection="han-nom", hidden=True),
    SearchDocument(
        "a6",
        "Nguyễn phúc tộc thế phả",
        "Gia phả",
        collection="han-nom",
        embargo_until=date(2999, 1, 1),
        year_start=1900,
    ),
    SearchDocument(
        "a7",
        "Thơ Nguyễn Khuyến",
        "Nguyễn Khuyến. Yên Đổ",
        collection="han-nom",
        languages=("vi",),
        types=("Text",),
    ),
]


@pytest.fixture
def backend(tmp_path: Path) -> SqliteFts:
    fts = SqliteFts(create_engine(f"sqlite:///{tmp_path / 'search.sqlite'}"))
    assert fts.rebuild([BOOKS[:4], BOOKS[4:]]) == len(BOOKS)
    return fts


def ids(backend: SqliteFts, text: str = "", **options: object) -> list[str]:
    request = SearchRequest(parse_query(text), **options)  # type: ignore[arg-type]
    return [hit.item_id for hit in backend.search(request).hits]


def test_backend_words_and_phrases(backend: SqliteFts) -> None:
    assert ids(backend, "nguyen dinh chieu") == ["a4"]
    assert ids(backend, "dai viet") == ["a2"]
    assert ids(backend, '"gia dinh"') == ["a3"]
    assert ids(backend, '"dinh gia"') == []
    assert set(ids(backend, "nguyen")) == {"a1", "a4", "a7"}


def test_backend_hides_staff_and_embargoed_items(backend: SqliteFts) -> None:
    assert "a5" not in ids(backend, "nguyen") and "a6" not in ids(backend, "nguyen")
    assert {"a5", "a6"} <= set(ids(backend, "nguyen", staff=True))
    # The embargo lifts on its day, with no reindex.
    assert "a6" in ids(backend, "nguyen", today=date(2999, 1, 1))
    assert "a5" not in ids(backend, "nguyen", today=date(2999, 1, 1))


def test_backend_facet_counts_and_filters(backend: SqliteFts) -> None:
    results = backend.search(SearchRequest(parse_query("nguyen")))
    assert results.total == 3
    assert dict(results.facets["collection"]) == {"han-nom": 3}
    assert dict(results.facets["language"]) == {"vi": 3, "lzh": 1}
    assert dict(results.facets["century"]) == {"18": 2}
    everything = backend.search(SearchRequest(filters=Filters(type=("Text", "Map"))))
    assert everything.total == 5 and dict(everything.facets["type"]) == {"Text": 4, "Map": 1}
    assert ids(backend, "", filters=Filters(language=("lzh",))) == ["a2", "a1"]
    assert ids(backend, "", filters=Filters(language=("lzh",), collection=("maps",))) == []
    assert set(ids(backend, "", filters=Filters(collection=("maps", "han-nom")))) == {
        "a1",
        "a2",
        "a3",
        "a4",
        "a7",
    }


def test_backend_year_ranges_overlap(backend: SqliteFts) -> None:
    century = Filters(year_from=1800, year_to=1899)
    assert set(ids(backend, "", filters=century)) == {"a1", "a3", "a4"}
    assert ids(backend, "", filters=Filters(year_from=1825, year_to=1825)) == ["a3"]
    assert ids(backend, "", filters=Filters(year_to=1700)) == ["a2"]


def test_backend_sorts_and_pages(backend: SqliteFts) -> None:
    texts = Filters(type=("Text",))
    assert ids(backend, "", filters=texts, sort="date") == ["a2", "a1", "a4", "a7"]
    assert ids(backend, "", filters=texts, sort="-date") == ["a4", "a1", "a2", "a7"]
    assert ids(backend, "", filters=texts, sort="title") == ["a2", "a7", "a1", "a4"]
    assert ids(backend, "", filters=texts, sort="title", offset=1, limit=2) == ["a7", "a1"]
    # Relevance: a match in the title counts for more than one in the text.
    assert ids(backend, "nguyen")[0] == "a7"
    assert backend.search(SearchRequest(parse_query("nguyen"), limit=1)).total == 3


def test_backend_update_and_remove(backend: SqliteFts) -> None:
    backend.index([SearchDocument("a3", "Bản đồ Hà Nội", "Hà Nội", collection="maps")])
    assert ids(backend, "gia dinh") == [] and ids(backend, "ha noi") == ["a3"]
    backend.remove("a3")
    assert ids(backend, "ha noi") == []
    assert backend.search(SearchRequest(filters=Filters(collection=("maps",)))).total == 0
    backend.clear()
    assert ids(backend, "nguyen") == []


def test_snippets_keep_diacritics() -> None:
    text = "Bản khắc in năm 1866 của tác phẩm Lục Vân Tiên do Nguyễn Đình Chiểu soạn"
    snippet = make_snippet([text], parse_query("nguyen dinh chieu"), words=8)
    assert snippet == "…Tiên do [[Nguyễn]] [[Đình]] [[Chiểu]] soạn"
    assert make_snippet(["", "Đại Việt"], parse_query("zzz")) == "Đại Việt"


def test_filter_arguments_are_checked() -> None:
    filters = parse_filters(
        {
            "collection": ["maps", "maps", " ", "x" * 1000],
            "language": [f"l{n}" for n in range(50)],
            "from": ["1800'; --"],
            "to": ["99999"],
        }
    )
    assert filters.collection == ("maps", "x" * 200)
    assert len(filters.language) == 10
    assert filters.year_from is None and filters.year_to is None
    assert parse_filters({"from": ["-200"], "to": ["1700"]}) == Filters(
        year_from=-200, year_to=1700
    )


EN, VI = {"Accept-Language": "en"}, {"Accept-Language": "vi"}


def test_facets_and_sorting_on_the_page(
    app: Flask, client: FlaskClient, catalogue: dict[str, str], runner: FlaskCliRunner
) -> None:
    from repository.extensions import db
    from repository.models import Item

    with app.app_context():
        for title, year, language in (
            ("Văn tế nghĩa sĩ Cần Giuộc", 1861, "vi"),
            ("Đại Việt sử ký toàn thư", 1697, "lzh"),
        ):
            item = db.session.get(Item, catalogue[title])
            item.year_start = item.year_end = year
            item.dc = {**item.dc, "language": [{"value": language}], "type": [{"value": "Text"}]}
            db.session.commit()
    assert runner.invoke(args=["reindex"]).exit_code == 0
    page = hits(client, "nguyen OR ngo")  # plain words: no boolean syntax
    assert not any(item_id in page for item_id in catalogue.values())
    page = client.get("/search?q=&type=Text", headers=EN).get_data(as_text=True)
    assert "2 items." in page and "Classical Chinese (Hán) (lzh)" in page
    assert "17th century" in page and "19th century" in page
    assert page.index(catalogue["Đại Việt sử ký toàn thư"]) < page.index(
        catalogue["Văn tế nghĩa sĩ Cần Giuộc"]
    )  # browsing is by title: "dai viet" before "van te"
    newest = client.get("/search?type=Text&sort=-date", headers=EN).get_data(as_text=True)
    assert newest.index(catalogue["Văn tế nghĩa sĩ Cần Giuộc"]) < newest.index(
        catalogue["Đại Việt sử ký toàn thư"]
    )
    narrowed = client.get("/search?type=Text&language=lzh", headers=VI).get_data(as_text=True)
    assert catalogue["Đại Việt sử ký toàn thư"] in narrowed
    assert catalogue["Văn tế nghĩa sĩ Cần Giuộc"] not in narrowed
    assert "Thế kỷ XVII<" in narrowed and 'aria-current="true"' in narrowed
    years = client.get("/search?type=Text&from=1800&to=1899").get_data(as_text=True)
    assert catalogue["Văn tế nghĩa sĩ Cần Giuộc"] in years
    assert catalogue["Đại Việt sử ký toàn thư"] not in years
    for hostile in (
        "?type=Text&from=abc&to=1e9",
        "?language=%00&sort=evil",
        "?collection=' OR 1=1",
    ):
        assert client.get("/search" + hostile).status_code == 200


def test_snippets_show_where_most_words_meet() -> None:
    text = "Minh " + "chữ " * 40 + "Gái thời tiết hạnh là câu trau mình"
    snippet = make_snippet([text], parse_query("tiet hanh trau minh"), words=12)
    assert "[[tiết]] [[hạnh]] là câu [[trau]] [[mình]]" in snippet


def test_an_index_of_an_older_layout_is_rebuilt(
    app: Flask, client: FlaskClient, catalogue: dict[str, str]
) -> None:
    from sqlalchemy import text

    from repository.web import get_search

    with app.app_context():
        with get_search().engine.begin() as connection:  # as a version-1 index left it
            connection.execute(text("DROP TABLE search_meta"))
        app.extensions.pop("tangthu.search", None)
    assert catalogue["Đại Việt sử ký toàn thư"] in hits(client, "dai viet")


def test_facet_filters_join_the_match_as_our_own_tokens() -> None:
    from repository.search.sqlite_fts import facet_token

    hostile = 'kien-truc" OR "x'
    expression = match_expression(parse_query("truyen"), Filters(collection=(hostile, "maps")))
    token = facet_token("collection", hostile)
    assert (
        expression == f'"truyen" AND facets : ("{token}" OR "{facet_token("collection", "maps")}")'
    )
    assert token.isalnum() and token != facet_token("type", hostile)


def test_embargoes_are_left_out_by_year_or_by_day(tmp_path: Path) -> None:
    """Restrictions are tokens inside the MATCH: a later year's embargo by its year, one
    ending later this year by its day; an embargo lifts on its day without a reindex."""
    from repository.search.sqlite_fts import hidden_tokens

    ends = {
        "next-year": date(2027, 3, 1),
        "this-december": date(2026, 12, 15),
        "today": date(2026, 11, 22),
        "last-january": date(2026, 1, 1),
        "long-ago": date(2001, 5, 5),
    }
    fts = SqliteFts(create_engine(f"sqlite:///{tmp_path / 'search.sqlite'}"))
    fts.rebuild(
        [
            [
                SearchDocument(name, f"Địa bạ {name}", "Địa bạ", "", "maps", embargo_until=end)
                for name, end in ends.items()
            ]
            + [SearchDocument("staff", "Địa bạ mật", "Địa bạ", "", "maps", hidden=True)]
        ]
    )
    today = date(2026, 11, 22)
    visible = {"today", "last-january", "long-ago"}
    assert set(ids(fts, "dia ba", today=today)) == visible
    # The same with facets alone (no words), and with a year range alone.
    browse = Filters(collection=("maps",))
    assert set(ids(fts, "", filters=browse, today=today)) == visible
    assert fts.search(SearchRequest(filters=browse, today=today)).total == 3
    # The counts beside the page leave out the same documents (by their rows' columns).
    counted = fts.search(SearchRequest(parse_query("dia ba"), today=today))
    assert counted.total == 3 and dict(counted.facets["collection"]) == {"maps": 3}
    by_staff = fts.search(SearchRequest(parse_query("dia ba"), today=today, staff=True))
    assert by_staff.total == 6
    assert fts.search(SearchRequest(parse_query("dia ba"), today=date(2026, 12, 15))).total == 4
    assert set(ids(fts, "dia ba", today=today, staff=True)) == {*ends, "staff"}
    # On the December day it ends, and in the next year, when the tokens are by day.
    assert "this-december" in ids(fts, "dia ba", today=date(2026, 12, 15))
    assert set(ids(fts, "dia ba", today=date(2027, 3, 1))) == set(ends)
    assert hidden_tokens(["2027-03-01", "2027-05-01", "2026-12-15"], today) == [
        "zzed20261215",
        "zzey2027",
        "zzhidden",
    ]
    assert match_expression(parse_query("a"), None, ["zzhidden"]) == (
        '("a") NOT facets : (zzhidden)'
    )


def test_facet_counts_group_items_with_the_same_values(backend: SqliteFts) -> None:
    """Items sharing collection, languages, types and century are one combination."""
    backend.index(
        [
            SearchDocument("b1", "Địa bạ Phú Xuân", "", "", "maps", ("vi",), ("Map",), 1820),
            SearchDocument("b2", "Địa bạ Gia Định", "", "", "maps", ("vi",), ("Map",), 1836),
        ]
    )
    with backend.engine.connect() as connection:
        combos = connection.exec_driver_sql("SELECT count(*) FROM search_combo").scalar()
    assert combos == 7  # b1 and b2 join a3 (maps, vi, Map, 19th century): no new one
    results = backend.search(SearchRequest(parse_query("dia"), filters=Filters(type=("Map",))))
    assert results.total == 2
    assert dict(results.facets["century"]) == {"18": 2}


def test_a_forked_worker_searches(backend: SqliteFts) -> None:
    """gunicorn forks workers from a process that may have searched already: the counts
    threads must be made again in the child, not inherited as ghosts."""
    import os
    import signal

    assert backend.search(SearchRequest(parse_query("nguyen"))).total == 3
    pid = os.fork()
    if pid == 0:  # the child: a search that hangs is stopped by the alarm
        signal.alarm(20)
        ok = False
        try:
            ok = backend.search(SearchRequest(parse_query("nguyen"))).total == 3
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert backend.search(SearchRequest(parse_query("dai viet"))).total == 1


def test_kept_answers_end_with_any_write_by_any_process(tmp_path: Path) -> None:
    """Each process keeps its latest answers by request and the index's generation: a
    repeat reads one row, and a write by another process (another engine on the same
    file, as another gunicorn worker) is seen by the next search."""
    from sqlalchemy import event

    path = f"sqlite:///{tmp_path / 'search.sqlite'}"
    reader, writer = SqliteFts(create_engine(path)), SqliteFts(create_engine(path))
    writer.rebuild([BOOKS])
    statements: list[str] = []
    event.listen(reader.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    request = SearchRequest(parse_query("truyen"))
    first = reader.search(request)
    asked = len(statements)
    assert asked > 2 and reader.search(request) == first
    assert len(statements) == asked + 1  # the generation, nothing else
    newcomer = SearchDocument("moi", "Truyện mới in", "")
    writer.index([newcomer])
    assert "moi" in [hit.item_id for hit in reader.search(request).hits]
    writer.remove("moi")
    assert "moi" not in [hit.item_id for hit in reader.search(request).hits]
    hidden = SearchDocument(first.hits[0].item_id, "Truyện kín", "", hidden=True)
    writer.index([hidden])  # made staff-only: gone from the public's answer at once
    public = [hit.item_id for hit in reader.search(request).hits]
    assert hidden.item_id not in public
    staff = reader.search(SearchRequest(parse_query("truyen"), staff=True))
    assert hidden.item_id in [hit.item_id for hit in staff.hits]
    # The embargoes a public search leaves out are read once per generation: a new one,
    # written by the other process, applies to the next search.
    until = date(date.today().year + 3, 1, 1)
    writer.index([SearchDocument("cam", "Truyện cấm đến sau", "", embargo_until=until)])
    assert "cam" not in [hit.item_id for hit in reader.search(request).hits]
    later = SearchRequest(parse_query("truyen"), today=date(until.year, 1, 2))
    assert "cam" in [hit.item_id for hit in reader.search(later).hits]
    writer.clear()
    assert reader.search(request).total == 0


def test_the_language_facet_names_languages_not_codes(
    app: Flask, client: FlaskClient, catalogue: dict[str, str]
) -> None:
    """A reader sees "Hán văn (lzh)" in the facet, never the bare code."""
    from repository.extensions import db
    from repository.models import Item

    with app.app_context():
        item = db.session.get(Item, catalogue["Đại Việt sử ký toàn thư"])
        item.dc = {**item.dc, "language": [{"value": "lzh"}]}
        db.session.commit()
    assert app.test_cli_runner().invoke(args=["reindex"]).exit_code == 0
    html = hits(client, "dai viet")
    assert "(lzh)" in html and ">lzh<" not in html and "lzh</" not in html
