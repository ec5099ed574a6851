"""The OpenSearch backend: its request bodies and response parsing, and, given a server, search.

The builders are pure and always tested. The integration tests need a real OpenSearch named by
TANGTHU_OPENSEARCH_URL; each uses an index of its own and deletes it afterwards.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from repository.search import (
    FACETS,
    Filters,
    Hit,
    Results,
    SearchDocument,
    SearchRequest,
    parse_query,
)
from repository.search.opensearch import (
    ANALYZER,
    FACET_LIMIT,
    HAN_PAIRS,
    MAX_WINDOW,
    OpenSearchBackend,
    build_query,
    document_body,
    index_settings,
    parse_response,
)

TODAY = date(2025, 6, 1)


def request(text: str = "", **changes: Any) -> SearchRequest:
    return SearchRequest(parse_query(text), **{"today": TODAY, **changes})


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a nested body."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def clauses(body: dict[str, Any], kind: str) -> list[Any]:
    return [node[kind] for node in walk(body) if kind in node]


# index_settings and document_body


@pytest.mark.pure
def test_index_settings_fold_vietnamese() -> None:
    settings = index_settings()
    analyzer = settings["settings"]["analysis"]["analyzer"][ANALYZER]
    assert analyzer["tokenizer"] == "standard"
    assert analyzer["filter"] == ["lowercase", "asciifolding", HAN_PAIRS]
    assert settings["settings"]["number_of_shards"] == 1  # exact facet counts
    fields = settings["mappings"]["properties"]
    for name in ("title", "body", "ocr"):
        assert (fields[name]["type"], fields[name]["analyzer"]) == ("text", ANALYZER)
        assert fields[f"{name}_raw"] == {"type": "text", "index": False}
    assert fields["title"]["store"] is True
    for name in ("item_id", "collection", "language", "type", "sort_title"):
        assert fields[name] == {"type": "keyword"}
    assert fields["year_start"]["type"] == fields["year_end"]["type"] == "integer"
    assert fields["embargo_until"]["type"] == "date"
    assert settings["mappings"]["dynamic"] == "strict"


@pytest.mark.pure
def test_han_is_indexed_as_characters_and_pairs() -> None:
    """cjk_bigram from analysis-common (no plugin), after folding, keeping single characters:
    a one-character query needs them, and a pair needs both neighbours."""
    analysis = index_settings()["settings"]["analysis"]
    assert analysis["filter"][HAN_PAIRS] == {"type": "cjk_bigram", "output_unigrams": True}
    assert analysis["analyzer"][ANALYZER]["filter"][-1] == HAN_PAIRS
    assert "icu_tokenizer" not in json.dumps(analysis)


@pytest.mark.pure
def test_han_runs_are_matched_as_phrases() -> None:
    nom = "\U00021a38"  # 𡨸
    must = build_query(request(f"dai viet 大越史記 記 傳{nom}"))["query"]["bool"]["must"]
    assert [(c["multi_match"]["query"], c["multi_match"]["type"]) for c in must] == [
        ("dai", "phrase"),
        ("viet", "phrase"),
        ("大越史記", "phrase"),
        ("記", "phrase"),
        (f"傳{nom}", "phrase"),
    ]
    body = document_body(SearchDocument("h", "Đại Việt 大越史記", "傳𡨸"))
    assert body["title"] == "dai viet 大越史記" and body["title_raw"] == "Đại Việt 大越史記"
    hit = {"_id": "h", "_source": {"item_id": "h", "title_raw": "Đại Việt 大越史記"}}
    results = parse_response({"hits": {"total": {"value": 1}, "hits": [hit]}}, request("史記"))
    assert results.hits[0].snippet == "Đại Việt 大越[[史記]]"


@pytest.mark.pure
def test_document_body_keeps_folded_and_original_text() -> None:
    doc = SearchDocument(
        "i1",
        "Đại Việt sử ký toàn thư",
        "Ngô Sĩ Liên",
        ocr="Nguyễn Đình Chiểu",
        collection="su-hoc",
        languages=("vi", "lzh", "vi"),
        types=("Text",),
        year_start=1479,
        year_end=1697,
        hidden=False,
        embargo_until=date(2030, 1, 2),
    )
    body = document_body(doc)
    assert body["item_id"] == "i1"
    assert body["title"] == "dai viet su ky toan thu"
    assert body["body"] == "ngo si lien"
    assert body["ocr"] == "nguyen dinh chieu"
    assert body["title_raw"] == "Đại Việt sử ký toàn thư"
    assert body["body_raw"] == "Ngô Sĩ Liên"
    assert body["ocr_raw"] == "Nguyễn Đình Chiểu"
    assert body["sort_title"] == "dai viet su ky toan thu"
    assert body["collection"] == ["su-hoc"]
    assert body["language"] == ["vi", "lzh"]
    assert body["type"] == ["Text"]
    assert (body["year_start"], body["year_end"]) == (1479, 1697)
    assert body["embargo_until"] == "2030-01-02"
    assert body["hidden"] is False
    # The mapping is strict: every field written must be mapped.
    assert set(body) <= set(index_settings()["mappings"]["properties"])
    json.dumps(body)


@pytest.mark.pure
def test_document_body_leaves_out_empty_facets() -> None:
    body = document_body(SearchDocument("i2", "x" * 300, "", collection="", types=("", "Map")))
    assert body["collection"] == [] and body["language"] == [] and body["type"] == ["Map"]
    assert body["embargo_until"] is None and body["year_start"] is None
    assert len(body["sort_title"]) == 200
    long = document_body(SearchDocument("i3", "t", "", collection="c" * 300))
    assert long["collection"] == ["c" * 200]


# build_query


def visibility(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in body["query"]["bool"]["filter"] if "should" in c.get("bool", {})]


@pytest.mark.pure
def test_readers_see_only_open_and_unembargoed_items() -> None:
    body = build_query(request("dai viet"))
    (clause,) = visibility(body)
    assert clause["bool"]["filter"] == [{"term": {"hidden": False}}]
    assert clause["bool"]["minimum_should_match"] == 1
    should = clause["bool"]["should"]
    assert {"bool": {"must_not": [{"exists": {"field": "embargo_until"}}]}} in should
    assert {"range": {"embargo_until": {"lte": "2025-06-01"}}} in should


@pytest.mark.pure
def test_staff_see_everything() -> None:
    body = build_query(request("dai viet", staff=True))
    assert body["query"]["bool"]["filter"] == []
    text = json.dumps(body)
    assert "access" not in text and "embargo_until" not in text


@pytest.mark.pure
def test_every_word_must_match_somewhere() -> None:
    body = build_query(request("Nguyễn Đình Chiểu"))
    must = body["query"]["bool"]["must"]
    assert [c["multi_match"]["query"] for c in must] == ["nguyen", "dinh", "chieu"]
    for clause in must:
        assert clause["multi_match"]["fields"] == ["title^5", "body", "ocr"]
        assert clause["multi_match"]["type"] == "phrase"  # a run of Han characters stays whole


@pytest.mark.pure
def test_phrases_become_match_phrase_on_each_field() -> None:
    body = build_query(request('ky "Đại Việt sử"'))
    must = body["query"]["bool"]["must"]
    assert must[0]["multi_match"]["query"] == "ky"
    phrase = must[1]["bool"]
    assert phrase["minimum_should_match"] == 1
    assert phrase["should"] == [
        {"match_phrase": {"title": {"query": "dai viet su"}}},
        {"match_phrase": {"body": {"query": "dai viet su"}}},
        {"match_phrase": {"ocr": {"query": "dai viet su"}}},
    ]
    assert len(must) == 2


@pytest.mark.pure
def test_browsing_matches_all_and_lists_by_title() -> None:
    body = build_query(request("", filters=Filters(collection=("su-hoc",))))
    assert body["query"]["bool"]["must"] == [{"match_all": {}}]
    assert body["sort"][0] == {"sort_title": {"order": "asc"}}
    assert "_score" not in json.dumps(body["sort"])


@pytest.mark.pure
def test_facet_values_are_alternatives_and_facets_narrow() -> None:
    filters = Filters(collection=("su-hoc", "van-hoc"), language=("vi",), type=("Text",))
    body = build_query(request("viet", filters=filters, staff=True))
    terms = clauses(body["query"], "terms")
    assert terms == [
        {"collection": ["su-hoc", "van-hoc"]},
        {"language": ["vi"]},
        {"type": ["Text"]},
    ]
    # Each facet is its own filter clause (AND); values within one are a terms list (OR).
    assert all("terms" in c for c in body["query"]["bool"]["filter"])


@pytest.mark.pure
def test_year_range_overlaps() -> None:
    body = build_query(request("viet", filters=Filters(year_from=1500, year_to=1600), staff=True))
    to_clause, from_clause = body["query"]["bool"]["filter"]
    assert to_clause == {"range": {"year_start": {"lte": 1600}}}
    should = from_clause["bool"]["should"]
    assert from_clause["bool"]["minimum_should_match"] == 1
    assert should[0] == {"range": {"year_end": {"gte": 1500}}}
    assert should[1] == {
        "bool": {
            "must_not": [{"exists": {"field": "year_end"}}],
            "filter": [{"range": {"year_start": {"gte": 1500}}}],
        }
    }
    only_from = build_query(request("viet", filters=Filters(year_from=1500), staff=True))
    assert '"lte"' not in json.dumps(only_from["query"])
    only_to = build_query(request("viet", filters=Filters(year_to=-200), staff=True))
    assert only_to["query"]["bool"]["filter"] == [{"range": {"year_start": {"lte": -200}}}]


@pytest.mark.pure
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("relevance", [{"_score": {"order": "desc"}}, {"sort_title": {"order": "asc"}}]),
        ("title", [{"sort_title": {"order": "asc"}}]),
        (
            "date",
            [
                {"year_start": {"order": "asc", "missing": "_last"}},
                {"sort_title": {"order": "asc"}},
            ],
        ),
        (
            "-date",
            [
                {"year_start": {"order": "desc", "missing": "_last"}},
                {"sort_title": {"order": "asc"}},
            ],
        ),
    ],
)
def test_sort_orders(sort: str, expected: list[dict[str, Any]]) -> None:
    body = build_query(request("viet", sort=sort))
    assert body["sort"] == [*expected, {"item_id": {"order": "asc"}}]


@pytest.mark.pure
def test_paging_and_totals() -> None:
    body = build_query(request("viet", offset=40, limit=20))
    assert (body["from"], body["size"]) == (40, 20)
    assert body["track_total_hits"] is True
    assert set(body["_source"]) == {"item_id", "title_raw", "body_raw", "ocr_raw"}
    deep = build_query(request("viet", offset=MAX_WINDOW - 5, limit=20))
    assert (deep["from"], deep["size"]) == (MAX_WINDOW - 5, 5)
    beyond = build_query(request("viet", offset=MAX_WINDOW * 3, limit=20))
    assert beyond["from"] + beyond["size"] <= MAX_WINDOW and beyond["size"] == 0


@pytest.mark.pure
def test_facet_aggregations_only_when_wanted() -> None:
    body = build_query(request("viet"))
    aggs = body["aggs"]
    assert set(aggs) == {*FACETS, "century"}
    for facet in FACETS:
        assert aggs[facet]["terms"]["field"] == facet
        assert aggs[facet]["terms"]["size"] == FACET_LIMIT == 30
        assert aggs[facet]["terms"]["order"] == [{"_count": "desc"}, {"_key": "asc"}]
    assert aggs["century"]["histogram"] == {
        "field": "year_start",
        "interval": 100,
        "min_doc_count": 1,
    }
    assert "aggs" not in build_query(request("viet", facets=False))


@pytest.mark.pure
@pytest.mark.parametrize(
    "text",
    ["title:x OR *", "a* -b ^c", '"unbalanced', '\\"{}[]~/', "x" * 10_000, "(((", "\x00"],
)
def test_hostile_text_only_reaches_match_queries(text: str) -> None:
    body = build_query(request(text))
    dumped = json.dumps(body)
    for forbidden in ("query_string", "simple_query_string", "wildcard", "regexp", "script"):
        assert forbidden not in dumped
    kinds = {next(iter(c)) for c in body["query"]["bool"]["must"]}
    assert kinds <= {"multi_match", "bool", "match_all"}
    for query in clauses(body, "query"):
        if isinstance(query, str):  # every query string is folded word tokens and spaces
            assert all(word.isalnum() or "_" in word for word in query.split())


# parse_response


RAW = {
    "took": 3,
    "timed_out": False,
    "hits": {
        "total": {"value": 42, "relation": "eq"},
        "max_score": 7.5,
        "hits": [
            {
                "_index": "tangthu-20250601",
                "_id": "a2",
                "_score": 7.5,
                "_source": {
                    "item_id": "a2",
                    "title_raw": "Đại Việt sử ký toàn thư",
                    "body_raw": "Ngô Sĩ Liên soạn",
                    "ocr_raw": "",
                },
            },
            {
                "_index": "tangthu-20250601",
                "_id": "a9",
                "_score": 2.0,
                "_source": {
                    "title_raw": "Nhật ký",
                    "body_raw": "",
                    "ocr_raw": "Trang một: nước Đại Việt ta",
                },
            },
        ],
    },
    "aggregations": {
        "collection": {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": 0,
            "buckets": [
                {"key": "van-hoc", "doc_count": 2},
                {"key": "su-hoc", "doc_count": 30},
                {"key": "ban-do", "doc_count": 2},
            ],
        },
        "language": {"buckets": [{"key": "vi", "doc_count": 40}, {"key": "lzh", "doc_count": 9}]},
        "type": {"buckets": []},
        "century": {
            "buckets": [
                {"key": -200.0, "doc_count": 1},
                {"key": 1400.0, "doc_count": 5},
                {"key": 1800.0, "doc_count": 5},
                {"key": 1900.0, "doc_count": 12},
            ]
        },
    },
}


@pytest.mark.pure
def test_parse_response_hits_snippets_and_total() -> None:
    results = parse_response(RAW, request("dai viet"))
    assert results.total == 42
    assert results.hits == (
        Hit("a2", "[[Đại]] [[Việt]] sử ký toàn thư"),
        Hit("a9", "Trang một: nước [[Đại]] [[Việt]] ta"),
    )


@pytest.mark.pure
def test_parse_response_facets() -> None:
    facets = parse_response(RAW, request("dai viet")).facets
    assert facets["collection"] == (("su-hoc", 30), ("ban-do", 2), ("van-hoc", 2))
    assert facets["language"] == (("vi", 40), ("lzh", 9))
    assert "type" not in facets  # like SQLite: a facet with no values is left out
    assert facets["century"] == (("19", 12), ("14", 5), ("18", 5), ("-2", 1))


@pytest.mark.pure
def test_parse_response_without_facets_or_hits() -> None:
    results = parse_response(RAW, request("dai viet", facets=False))
    assert results.facets == {} and len(results.hits) == 2
    empty = parse_response({"hits": {"total": {"value": 0}, "hits": []}}, request("x"))
    assert empty == Results((), 0, {})
    legacy = parse_response({"hits": {"total": 3, "hits": []}}, request("x"))
    assert legacy.total == 3


@pytest.mark.pure
def test_parse_response_keeps_only_the_top_facet_values() -> None:
    buckets = [{"key": f"c{n:02}", "doc_count": 1 + n % 3} for n in range(45)]
    raw = {
        "hits": {"total": {"value": 45}, "hits": []},
        "aggregations": {"type": {"buckets": buckets}},
    }
    counted = parse_response(raw, request("x")).facets["type"]
    assert len(counted) == FACET_LIMIT
    assert counted[0] == ("c02", 3) and counted[-1][1] == 2
    assert [c for _, c in counted] == sorted((c for _, c in counted), reverse=True)


# Against a real OpenSearch

URL = os.environ.get("TANGTHU_OPENSEARCH_URL", "")
server = pytest.mark.skipif(
    not URL,
    reason="OpenSearch integration tests need TANGTHU_OPENSEARCH_URL "
    "(e.g. http://127.0.0.1:9200); none is configured here",
)

BOOKS = [
    SearchDocument(
        "b1",
        "Văn tế nghĩa sĩ Cần Giuộc",
        "Nguyễn Đình Chiểu",
        collection="van-hoc",
        languages=("vi",),
        types=("Text",),
        year_start=1861,
    ),
    SearchDocument(
        "b2",
        "Đại Việt sử ký toàn thư",
        "Ngô Sĩ Liên",
        ocr="Quyển thứ nhất. Kỷ Hồng Bàng thị.",
        collection="su-hoc",
        languages=("lzh", "vi"),
        types=("Text",),
        year_start=1479,
        year_end=1697,
    ),
    SearchDocument(
        "b3",
        "Sổ bộ mật",
        "Khuyết danh, Đại Việt",
        collection="su-hoc",
        languages=("vi",),
        types=("Text",),
        year_start=1900,
        hidden=True,
    ),
    SearchDocument(
        "b4",
        "Nhật ký Đại Việt",
        "Nhật ký",
        collection="su-hoc",
        languages=("vi",),
        types=("Text",),
        year_start=1950,
        embargo_until=date(2030, 1, 1),
    ),
    SearchDocument(
        "b5",
        "Bản đồ Gia Định",
        "Gia Định thành",
        collection="ban-do",
        languages=("vi",),
        types=("Image",),
    ),
    SearchDocument(
        "b6",
        "Truyện Kiều",
        "Nguyễn Du. Đoạn trường tân thanh 斷腸新聲",
        collection="van-hoc",
        languages=("vi", "lzh"),
        types=("Text",),
        year_start=1820,
        year_end=1820,
    ),
]


def ids(results: Results) -> list[str]:
    return [hit.item_id for hit in results.hits]


@pytest.fixture
def backend() -> Iterator[OpenSearchBackend]:
    alias = f"tangthu-test-{uuid.uuid4().hex[:12]}"
    made = OpenSearchBackend(URL, index=alias)
    try:
        yield made
    finally:
        for name in made.client.indices.get(index=f"{alias}-*"):
            made.client.indices.delete(index=name)


@pytest.fixture
def books(backend: OpenSearchBackend) -> OpenSearchBackend:
    backend.index(BOOKS)
    return backend


@server
def test_search_before_anything_is_indexed(backend: OpenSearchBackend) -> None:
    assert backend.search(request("dai viet")) == Results()
    backend.remove("nothing")  # neither fails nor creates an index
    assert backend.aliased() == []
    backend.ensure_index()
    backend.ensure_index()
    assert backend.aliased() == [f"{backend.alias}-0"]
    assert backend.search(request("dai viet")).total == 0


@server
def test_diacritics_are_optional(books: OpenSearchBackend) -> None:
    assert ids(books.search(request("nguyen dinh chieu"))) == ["b1"]
    found = books.search(request("dai viet"))
    assert ids(found) == ["b2"]  # b3 is staff-only, b4 embargoed
    assert "[[Đại]] [[Việt]]" in found.hits[0].snippet
    assert ids(books.search(request("ĐẠI VIỆT"))) == ["b2"]
    assert ids(books.search(request("hong bang"))) == ["b2"]  # OCR text
    assert ids(books.search(request("斷腸新聲"))) == ["b6"]
    assert ids(books.search(request("斷新"))) == []


@server
def test_han_substrings_and_single_characters(books: OpenSearchBackend) -> None:
    for text in ("腸新", "斷腸", "新聲", "腸新聲", "聲", "truong 新聲"):
        assert ids(books.search(request(text))) == ["b6"], text
    assert ids(books.search(request("聲新"))) == []
    assert "[[腸新]]" in books.search(request("腸新")).hits[0].snippet


@server
def test_phrases(books: OpenSearchBackend) -> None:
    assert ids(books.search(request('"dai viet su ky"'))) == ["b2"]
    assert ids(books.search(request('"viet dai"'))) == []
    assert ids(books.search(request('"doan truong" nguyen'))) == ["b6"]


@server
def test_staff_visibility(books: OpenSearchBackend) -> None:
    staff = books.search(request("dai viet", staff=True))
    assert sorted(ids(staff)) == ["b2", "b3", "b4"]
    assert sorted(ids(books.search(request("dai viet", today=date(2030, 1, 1))))) == ["b2", "b4"]


@server
def test_facets_and_filters(books: OpenSearchBackend) -> None:
    everything = books.search(request("", filters=Filters(language=("vi",))))
    assert everything.total == 4  # b1, b2, b5, b6
    assert everything.facets["collection"] == (("van-hoc", 2), ("ban-do", 1), ("su-hoc", 1))
    assert everything.facets["type"] == (("Text", 3), ("Image", 1))
    assert everything.facets["language"] == (("vi", 4), ("lzh", 2))
    assert everything.facets["century"] == (("18", 2), ("14", 1))
    either = books.search(request("", filters=Filters(collection=("su-hoc", "ban-do"))))
    assert ids(either) == ["b5", "b2"]  # by title: "ban do…", "dai viet…"
    both = books.search(request("", filters=Filters(collection=("van-hoc",), language=("lzh",))))
    assert ids(both) == ["b6"]
    years = books.search(request("", filters=Filters(type=("Text",), year_from=1600, year_to=1830)))
    assert sorted(ids(years)) == ["b2", "b6"]  # b2 runs 1479-1697
    assert books.search(request("")) == Results()


@server
def test_sorting_and_paging(books: OpenSearchBackend) -> None:
    texts = Filters(language=("vi",))
    assert ids(books.search(request("", filters=texts, sort="date"))) == ["b2", "b6", "b1", "b5"]
    assert ids(books.search(request("", filters=texts, sort="-date"))) == ["b1", "b6", "b2", "b5"]
    assert ids(books.search(request("", filters=texts))) == ["b5", "b2", "b6", "b1"]
    page = books.search(request("", filters=texts, offset=1, limit=2))
    assert ids(page) == ["b2", "b6"] and page.total == 4


@server
def test_remove_and_replace(books: OpenSearchBackend) -> None:
    books.remove("b1")
    books.remove("b1")
    assert ids(books.search(request("nguyen dinh chieu"))) == []
    books.index([SearchDocument("b5", "Bản đồ Gia Định", "Nguyễn Đình Chiểu vẽ")])
    assert ids(books.search(request("nguyen dinh chieu"))) == ["b5"]


@server
def test_rebuild_without_downtime(books: OpenSearchBackend) -> None:
    (old,) = books.aliased()
    new = books.begin_rebuild()
    assert ids(books.search(request("dai viet"))) == ["b2"]
    books.index(BOOKS[:2], into=new)
    books.index([SearchDocument("b7", "Đại Việt thông sử", "Lê Quý Đôn")], into=new)
    assert ids(books.search(request("dai viet"))) == ["b2"]  # still the old index
    books.finish_rebuild(new)
    assert books.aliased() == [new]
    assert not books.client.indices.exists(index=old)
    assert sorted(ids(books.search(request("dai viet")))) == ["b2", "b7"]
    books.clear()
    assert books.search(request("dai viet")).total == 0
    assert len(books.aliased()) == 1 and books.aliased() != [new]


@server
def test_same_results_as_sqlite(books: OpenSearchBackend, tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from repository.search.sqlite_fts import SqliteFts

    sqlite = SqliteFts(create_engine(f"sqlite:///{tmp_path / 'search.sqlite'}"))
    sqlite.index(BOOKS)
    wanted = [
        request("dai viet"),
        request("dai viet", staff=True, sort="title"),
        request('"dai viet"', staff=True, sort="-date"),
        request("nguyen", sort="date"),
        request("", filters=Filters(collection=("su-hoc", "van-hoc")), staff=True),
        request("", filters=Filters(year_from=1800), sort="-date"),
        request("", filters=Filters(language=("vi",)), offset=2, limit=2, sort="date"),
    ]
    for one in wanted:
        ours, theirs = books.search(one), sqlite.search(one)
        assert ours.total == theirs.total, one
        assert dict(ours.facets) == dict(theirs.facets), one
        if one.order == "relevance":
            assert sorted(ours.hits, key=str) == sorted(theirs.hits, key=str), one
        else:
            assert ours.hits == theirs.hits, one
