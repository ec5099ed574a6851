"""The OpenSearch backend: its request bodies and response parsing, and, given a server, search.

The builders are pure and always tested. The integration tests need a real OpenSearch named by
TANGTHU_OPENSEARCH_URL: ``bash tests/opensearch-lane.sh`` (in ``make test``) starts an
OpenSearch 2.x node from Maven Central for them and sets it. Each uses an index of its own
and deletes it afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
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
    fold,
    parse_query,
)
from repository.search.opensearch import (
    ANALYZER,
    FACET_LIMIT,
    MAX_WINDOW,
    OpenSearchBackend,
    build_query,
    document_body,
    index_settings,
    indexed_words,
    parse_response,
)
from repository.services.collation import MAX_KEY, sort_key

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
    assert analyzer["tokenizer"] == "whitespace"  # the words are cut in Python
    assert analyzer["filter"] == ["lowercase", "asciifolding"]
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
def test_words_are_cut_in_python_as_queries_are() -> None:
    """Letters and digits make a word, each Han character is one, in every CJK extension:
    OpenSearch's standard tokenizer drops Extensions G to I (see test_the_node_keeps_…)."""
    assert indexed_words("Đại Việt sử ký, R.1234 (tờ 3.5)") == "dai viet su ky r 1234 to 3 5"
    assert indexed_words("大越史記全書") == "大 越 史 記 全 書"
    assert indexed_words("ab史記cd 傳\U00021a38喃") == "ab 史 記 cd 傳 \U00021a38 喃"
    assert (
        indexed_words("\U00030000\U00031350\U0002ebf0 ký") == "\U00030000 \U00031350 \U0002ebf0 ky"
    )
    assert indexed_words("\uf900") == "\u8c48"  # a compatibility ideograph is its unified one
    analysis = json.dumps(index_settings()["settings"]["analysis"])
    for plugin_or_guess in ("icu_", "cjk_bigram", "standard"):
        assert plugin_or_guess not in analysis


@pytest.mark.pure
def test_han_runs_are_matched_as_phrases() -> None:
    nom = "\U00021a38"  # 𡨸
    must = build_query(request(f"dai viet 大越史記 記 傳{nom}"))["query"]["bool"]["must"]
    assert [(c["multi_match"]["query"], c["multi_match"]["type"]) for c in must] == [
        ("dai", "phrase"),
        ("viet", "phrase"),
        ("大 越 史 記", "phrase"),
        ("記", "phrase"),
        (f"傳 {nom}", "phrase"),
    ]
    phrase = build_query(request('"ký 大越"'))["query"]["bool"]["must"][0]["bool"]["should"]
    assert phrase[0] == {"match_phrase": {"title": {"query": "ky 大 越"}}}
    body = document_body(SearchDocument("h", "Đại Việt 大越史記", "傳𡨸"))
    assert body["title"] == "dai viet 大 越 史 記" and body["title_raw"] == "Đại Việt 大越史記"
    assert body["body"] == f"傳 {nom}"
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
    assert document_body(SearchDocument("p", "Quyển 1. Kỷ Hồng Bàng.", ""))["title"] == (
        "quyen 1 ky hong bang"  # punctuation is not a word, as in a query
    )
    assert body["title_raw"] == "Đại Việt sử ký toàn thư"
    assert body["body_raw"] == "Ngô Sĩ Liên"
    assert body["ocr_raw"] == "Nguyễn Đình Chiểu"
    assert body["sort_title"] == sort_key("Đại Việt sử ký toàn thư")  # as SQLite FTS5 sorts
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
    assert len(body["sort_title"]) <= MAX_KEY
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
    reason="OpenSearch integration tests need TANGTHU_OPENSEARCH_URL (e.g. http://127.0.0.1:9200);"
    " none is configured here. `bash tests/opensearch-lane.sh` starts a node and sets it",
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


def drop_indices(client: Any, alias: str) -> None:
    for name in client.indices.get(index=f"{alias}-*"):
        client.indices.delete(index=name)


@pytest.fixture
def alias() -> str:
    return f"tangthu-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def backend(alias: str) -> Iterator[OpenSearchBackend]:
    made = OpenSearchBackend(URL, index=alias)
    try:
        yield made
    finally:
        drop_indices(made.client, alias)


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


# The node itself, its analyzer, and the index's words


@server
def test_the_node_is_a_real_opensearch_2(backend: OpenSearchBackend) -> None:
    info = backend.client.info()
    assert info["version"]["distribution"] == "opensearch"
    assert info["version"]["number"].startswith("2.")
    assert backend.client.cluster.health()["status"] == "green"
    backend.index(BOOKS[:1])  # a new index is green on one node: no replica is asked for
    health = backend.client.cluster.health(index=backend.alias, wait_for_status="green")
    assert health["status"] == "green" and not health["timed_out"]


def analyze(backend: OpenSearchBackend, text: str) -> list[str]:
    backend.ensure_index()
    found = backend.client.indices.analyze(
        index=backend.alias, body={"analyzer": ANALYZER, "text": text}
    )
    return [token["token"] for token in found["tokens"]]


NOM = "\U00021a38"  # 𡨸, chữ, in Extension B
SCRIPTS = {
    "the first unified block": "大越史記全書",
    "Extension A": "\u3400\u3401\u4db5",
    "Extension B (chữ Nôm)": f"傳{NOM}喃",
    "Extensions C to F": "\U0002a700\U0002b740\U0002b820\U0002ceb0",
    "Extension G": "\U00030000\U00030001\U00030002",
    "Extension H": "\U00031350\U00031351\U00031352",
    "Extension I": "\U0002ebf0\U0002ebf1\U0002ebf2",
    "the newest unified ideographs": "\u9ffd\u9ffe\u9fff\u4dbf",
}


@server
def test_the_node_keeps_every_word_python_cut(backend: OpenSearchBackend) -> None:
    """The index holds exactly the words a query can ask for, in every CJK extension.

    OpenSearch's standard tokenizer, which the index used before, drops what its Unicode
    tables lack: Extensions G to I and U+9FFD-U+9FFF came out as nothing at all."""
    texts = [
        "Nguyễn Đình Chiểu, Đại Việt sử ký toàn thư",
        "R.1234; tờ 3.5 — l'Annam (1890)",
        "Đoạn trường tân thanh 斷腸新聲",
        *SCRIPTS.values(),
    ]
    for text in texts:
        assert analyze(backend, indexed_words(text)) == indexed_words(text).split(), text
    # What the standard tokenizer does on this node, for the record.
    standard = backend.client.indices.analyze(
        body={"tokenizer": "standard", "text": SCRIPTS["Extension G"] + " " + NOM}
    )
    assert [token["token"] for token in standard["tokens"]] == [NOM]


@server
def test_the_node_folds_vietnamese_by_itself_too(backend: OpenSearchBackend) -> None:
    """A second fold after Python's: text sent unfolded still meets folded queries; đ is d."""
    assert analyze(backend, "Nguyễn Đình Chiểu ĐẠI VIỆT đ Đ") == [
        "nguyen",
        "dinh",
        "chieu",
        "dai",
        "viet",
        "d",
        "d",
    ]


@server
def test_d_with_stroke_matches_d(books: OpenSearchBackend) -> None:
    books.index([SearchDocument("d1", "Đoàn Thị Điểm", "Đường đi Đà Lạt", year_start=1743)])
    for text in ("doan thi diem", "đoàn thị điểm", "ĐIỂM", "duong di da lat", "Đường", '"di da"'):
        assert ids(books.search(request(text))) == ["d1"], text
    assert ids(books.search(request("dong"))) == []


HAN_TITLES = [
    SearchDocument(f"h{number}", title, "Thư tịch Hán Nôm", collection="han-nom")
    for number, title in enumerate(SCRIPTS.values())
]


@server
def test_any_two_han_characters_of_a_title_find_it(backend: OpenSearchBackend) -> None:
    """Neighbours in either order but the title's do not; nor do characters apart."""
    backend.index(HAN_TITLES)
    for doc in HAN_TITLES:
        chars = list(doc.title)
        for first, second in zip(chars, chars[1:], strict=False):
            assert ids(backend.search(request(first + second))) == [doc.item_id], doc.title
            assert ids(backend.search(request(second + first))) == [], doc.title
            assert ids(backend.search(request(first))) == [doc.item_id], doc.title
        if len(chars) > 2:
            assert ids(backend.search(request(chars[0] + chars[2]))) == [], doc.title
        whole = backend.search(request(doc.title))
        assert ids(whole) == [doc.item_id] and f"[[{doc.title}]]" in whole.hits[0].snippet
    assert ids(backend.search(request(f"han nom {NOM}喃"))) == ["h2"]
    assert ids(backend.search(request("\uf900"))) == []  # 豈, the compatibility form of 豈


@server
def test_han_beside_quoc_ngu(backend: OpenSearchBackend) -> None:
    backend.index(
        [
            SearchDocument("m1", "Đại Việt sử ký toàn thư 大越史記全書", "Ngô Sĩ Liên"),
            SearchDocument("m2", "Sổ bộ", "Bản sao chép từ sách 史記 đời Hán"),
            SearchDocument("m3", "豈 Khải", "chữ Hán"),
        ]
    )
    assert sorted(ids(backend.search(request("史記")))) == ["m1", "m2"]
    assert ids(backend.search(request("dai viet 史記"))) == ["m1"]
    assert ids(backend.search(request('"toan thu 大越"'))) == ["m1"]  # a phrase across both
    assert ids(backend.search(request('"thu 越"'))) == []
    assert ids(backend.search(request("\uf900"))) == ["m3"]  # the compatibility form finds it
    snippet = backend.search(request("史記")).hits
    assert any("大越[[史記]]全書" in hit.snippet for hit in snippet)


# What readers may see


PEOPLE = [
    SearchDocument("v1", "Kinh Thi mở", "Đại Việt", collection="a", languages=("vi",),
                   types=("Text",), year_start=1800),
    SearchDocument("v2", "Kinh Thi mật", "Đại Việt 詩經", collection="a", languages=("lzh",),
                   types=("Map",), year_start=1700, hidden=True),
    SearchDocument("v3", "Kinh Thi cấm", "Đại Việt 詩經", collection="b", languages=("fr",),
                   types=("Image",), year_start=1600, embargo_until=date(2025, 6, 2)),
    SearchDocument("v4", "Kinh Thi hết cấm hôm nay", "Đại Việt", collection="a",
                   languages=("vi",), types=("Text",), year_start=1810,
                   embargo_until=date(2025, 6, 1)),
    SearchDocument("v5", "Kinh Thi hết cấm từ lâu", "Đại Việt 詩經", collection="a",
                   languages=("vi",), types=("Text",), year_start=1820,
                   embargo_until=date(2001, 1, 1)),
]  # fmt: skip


@server
def test_staff_and_embargoed_items_are_never_returned(backend: OpenSearchBackend) -> None:
    """Not by words, phrases, Hán, facets alone, any order or page; nor counted in facets."""
    backend.index(PEOPLE)
    hidden = {"v2", "v3"}
    asked = [
        request("kinh thi"),
        request("dai viet"),
        request('"kinh thi"'),
        request("詩經"),
        request("mat"),
        request("cam"),
        request("", filters=Filters(collection=("a", "b"))),
        request("", filters=Filters(language=("lzh", "fr"))),
        request("", filters=Filters(type=("Map", "Image"))),
        request("", filters=Filters(year_from=1500, year_to=1750)),
    ]
    asked += [request("kinh", sort=sort) for sort in ("relevance", "title", "date", "-date")]
    asked += [request("kinh", offset=offset, limit=1) for offset in range(6)]
    for one in asked:
        found = backend.search(one)
        assert not hidden & set(ids(found)), one
        for values in found.facets.values():
            assert dict(values).get("lzh") is None and dict(values).get("fr") is None, one
            assert dict(values).get("b") is None and dict(values).get("Map") is None, one
        assert found.total <= 3, one
    public = backend.search(request("kinh thi"))
    assert sorted(ids(public)) == ["v1", "v4", "v5"] and public.total == 3
    assert public.facets["collection"] == (("a", 3),)
    # The embargo ends on its day: v4's was today; v3's ends tomorrow.
    assert ids(backend.search(request("mat"))) == []
    tomorrow = backend.search(request("cam", today=date(2025, 6, 2)))
    assert sorted(ids(tomorrow)) == ["v3", "v4", "v5"]
    staff = backend.search(request("kinh thi", staff=True))
    assert sorted(ids(staff)) == ["v1", "v2", "v3", "v4", "v5"]
    assert staff.facets["collection"] == (("a", 4), ("b", 1))


# Order and years


@server
def test_orders(backend: OpenSearchBackend) -> None:
    backend.index(
        [
            SearchDocument("s1", "Bình Ngô đại cáo", "Nguyễn Trãi", year_start=1428),
            SearchDocument("s2", "Ức Trai thi tập", "Nguyễn Trãi soạn, Bình Ngô", year_start=1480),
            SearchDocument("s3", "An Nam chí lược", "Bình Ngô", year_start=None),
            SearchDocument("s4", "An Nam chí lược", "Bình Ngô, bản khác", year_start=1335),
            SearchDocument("s5", "Zeta", "Bình Ngô", year_start=-111),
        ]
    )
    by = {sort: ids(backend.search(request("binh ngo", sort=sort))) for sort in ("title", "date")}
    assert by["title"] == ["s3", "s4", "s1", "s2", "s5"]  # folded titles; a tie by item id
    assert by["date"] == ["s5", "s4", "s1", "s2", "s3"]  # no year last
    assert ids(backend.search(request("binh ngo", sort="-date"))) == ["s2", "s1", "s4", "s5", "s3"]
    # Relevance: a title match (weighted five times) above text matches.
    assert ids(backend.search(request("binh ngo")))[0] == "s1"
    assert ids(backend.search(request("nguyen trai")))[0] == "s2"  # "Trai" in its title


@server
def test_year_ranges_overlap(backend: OpenSearchBackend) -> None:
    backend.index(
        [
            SearchDocument("y1", "Niên đại một", "sach", year_start=1479, year_end=1697),
            SearchDocument("y2", "Niên đại hai", "sach", year_start=1820),
            SearchDocument("y3", "Niên đại ba", "sach", year_start=-257, year_end=-179),
            SearchDocument("y4", "Niên đại bốn", "sach", year_start=1600, year_end=1600),
            SearchDocument("y5", "Niên đại năm", "sach"),
        ]
    )

    def years(year_from: int | None, year_to: int | None) -> list[str]:
        wanted = Filters(year_from=year_from, year_to=year_to)
        return sorted(ids(backend.search(request("sach", filters=wanted))))

    assert years(1600, 1600) == ["y1", "y4"]  # inside y1's range, y4 exactly
    assert years(1698, None) == ["y2"]
    assert years(1697, None) == ["y1", "y2"]  # both ends count
    assert years(None, 1479) == ["y1", "y3"]
    assert years(None, 1478) == ["y3"]
    assert years(-200, -100) == ["y3"]  # before the common era
    assert years(-100, 1000) == []
    assert years(None, None) == ["y1", "y2", "y3", "y4", "y5"]  # no range: undated too
    centuries = dict(backend.search(request("sach")).facets["century"])
    assert centuries == {"14": 1, "18": 1, "-3": 1, "16": 1}


# Paging and hostile text, on the real node


HOSTILE = [
    "title:x OR *", "a* -b ^c", '"unbalanced', '\\"{}[]~/', "x" * 10_000, "(((", "\x00",
    "a " * 300, "史" * 400, "é" * 300, "\u0301\u0301", "\ud7ff\ue000\U0010ffff",
    '"' + "史 " * 100 + '"', "{\"query\": {\"match_all\": {}}}", "*:*", "_id:b3",
]  # fmt: skip


@server
def test_hostile_text_is_only_text_to_the_node(books: OpenSearchBackend) -> None:
    """Every one answered, none a query: "*:*" and "_id:b3" find nothing, b3 stays hidden."""
    for text in HOSTILE:
        found = books.search(request(text))
        assert "b3" not in ids(found) and found.total <= 1, text
        books.search(request(text, sort="date", filters=Filters(collection=(text[:200],))))
    assert books.search(request("*:*")).total == 0


@server
def test_pages_past_the_window_are_empty_not_errors(books: OpenSearchBackend) -> None:
    beyond = books.search(request("", filters=Filters(language=("vi",)), offset=MAX_WINDOW * 3))
    assert beyond.hits == () and beyond.total == 4
    edge = books.search(request("", filters=Filters(language=("vi",)), offset=MAX_WINDOW - 1))
    assert edge.hits == () and edge.total == 4


# Rebuilds


@server
def test_index_is_made_once_by_processes_starting_together(alias: str) -> None:
    backends = [OpenSearchBackend(URL, index=alias) for _ in range(4)]
    try:
        threads = [threading.Thread(target=b.ensure_index) for b in backends]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(b.aliased() == [f"{alias}-0"] for b in backends)
        assert list(backends[0].client.indices.get(index=f"{alias}-*")) == [f"{alias}-0"]
    finally:
        drop_indices(backends[0].client, alias)


def library(prefix: str, count: int) -> list[SearchDocument]:
    return [
        SearchDocument(
            f"{prefix}{n:05d}",
            f"Kinh Thi quyển {n} 詩經",
            f"Đại Việt {prefix} bản {n}",
            collection=("han-nom", "su-hoc")[n % 2],
            year_start=1700 + n % 200,
        )
        for n in range(count)
    ]


@server
def test_reindex_while_searches_run(backend: OpenSearchBackend) -> None:
    """Searches in other threads see the old index whole, then the new one whole: never an
    error, an empty page or half an index, and the alias names one index throughout."""
    backend.index(library("old", 300))
    stop = threading.Event()
    seen: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []

    def search() -> None:
        mine = OpenSearchBackend(URL, index=backend.alias)
        asked = [
            request("kinh thi"),
            request("詩經"),
            request("", filters=Filters(collection=("su-hoc",))),
        ]
        while not stop.is_set():
            try:
                for number, one in enumerate(asked):
                    seen.append((number, mine.search(one).total, len(mine.aliased())))
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)
                return

    threads = [threading.Thread(target=search) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        while len(seen) < 30 and not errors:
            time.sleep(0.05)
        began = len(seen)
        new = library("new", 2_000)
        count = backend.rebuild(new[start : start + 200] for start in range(0, len(new), 200))
        during = len(seen)
        while len(seen) < during + 30 and not errors:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert count == 2_000
    assert {aliased for _, _, aliased in seen} == {1}
    totals = {(number, total) for number, total, _ in seen}
    assert totals == {(0, 300), (1, 300), (2, 150), (0, 2_000), (1, 2_000), (2, 1_000)}
    assert during - began >= 10  # searches ran while the new index filled
    assert len(backend.client.indices.get(index=f"{backend.alias}-*")) == 1


@server
def test_an_index_made_before_the_words_were_cut_in_python_still_answers(
    backend: OpenSearchBackend,
) -> None:
    """Until `tangthu reindex`: the standard tokenizer with cjk_bigram, text folded only."""
    earlier = index_settings()
    earlier["settings"]["analysis"] = {
        "filter": {"pairs": {"type": "cjk_bigram", "output_unigrams": True}},
        "analyzer": {
            ANALYZER: {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding", "pairs"],
            }
        },
    }
    name = f"{backend.alias}-0"
    backend.client.indices.create(index=name, body={**earlier, "aliases": {backend.alias: {}}})
    docs = [*BOOKS, SearchDocument("h9", "Sổ bộ 大越史記全書", "傳" + NOM + "喃")]
    for doc in docs:
        body = document_body(doc)
        body.update(title=fold(doc.title), body=fold(doc.text), ocr=fold(doc.ocr))
        backend.client.index(index=backend.alias, id=doc.item_id, body=body, refresh=True)
    assert ids(backend.search(request("nguyen dinh chieu"))) == ["b1"]
    assert ids(backend.search(request('"dai viet su ky"'))) == ["b2"]
    for text in ("史記", "記", "大越史記全書", NOM, f"{NOM}喃", "斷腸新聲"):
        assert ids(backend.search(request(text))), text
    assert ids(backend.search(request("記史"))) == []


# The same answers as SQLite FTS5


@server
def test_same_answers_as_sqlite_on_a_thousand_catalogue_records(
    backend: OpenSearchBackend, tmp_path: Path
) -> None:
    """The search benchmark's records and queries: every total and facet count equal, and
    the same page of hits wherever the order does not depend on each engine's scoring."""
    from dataclasses import replace

    from sqlalchemy import create_engine

    from benchmarks.search import data
    from repository.search.sqlite_fts import SqliteFts

    docs = data.documents(1_200)
    sqlite = SqliteFts(create_engine(f"sqlite:///{tmp_path / 'search.sqlite'}"))
    sqlite.rebuild([docs])
    backend.rebuild([docs[:600], docs[600:]])
    cases = data.cases(docs, 15, seed=5)
    assert {case.kind for case in cases} == {"word", "phrase", "faceted", "han"}
    for case in cases:
        asked = SearchRequest(parse_query(case.text), case.filters, today=data.TODAY)
        ours, theirs = backend.search(asked), sqlite.search(asked)
        assert (ours.total, dict(ours.facets)) == (theirs.total, dict(theirs.facets)), case
        by_title = replace(asked, sort="title", limit=50)
        assert backend.search(by_title).hits == sqlite.search(by_title).hits, case
        staff = replace(asked, staff=True, sort="-date")
        assert backend.search(staff).total == sqlite.search(staff).total, case


@server
def test_the_search_benchmark_runs_against_the_node(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.search.run", "--smoke", "--items", "1000",
         "--opensearch", URL, "--output", str(tmp_path / "last.json")],
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "| OpenSearch | han |" in output and "OpenSearch failed" not in output
    figures = json.loads((tmp_path / "last.json").read_text())
    assert figures["opensearch"]["distribution"] == "opensearch"
    assert figures["agreement"]["differ"] == 0 and figures["agreement"]["compared"] >= 80


# Through the application: publishing, `tangthu reindex` and the search page


@server
def test_the_site_searches_opensearch(
    app_config: dict[str, Any], alias: str, make_pages: Any
) -> None:
    from repository import create_app
    from repository.extensions import db
    from repository.models import Item

    app = create_app({**app_config, "SEARCH_URL": URL, "SEARCH_INDEX": alias})
    try:
        with app.app_context():
            db.create_all()
        runner, client = app.test_cli_runner(), app.test_client()
        made = {}
        for number, (title, publish) in enumerate(
            [("Văn tế nghĩa sĩ Cần Giuộc", True), ("Sổ bộ mật 大越史記", False)]
        ):
            folder = make_pages(count=1, name=f"o{number}", width=300 + number * 7)
            args = ["ingest", str(folder), "--collection", "c", "--title", title]
            result = runner.invoke(args=[*args, "--publish"] if publish else args)
            assert result.exit_code == 0, result.output
            with app.app_context():
                newest = db.select(Item).order_by(Item.created_at.desc())
                made[title] = db.session.execute(newest).scalars().first().id

        def page(text: str) -> str:
            response = client.get("/search", query_string={"q": text})
            assert response.status_code == 200
            return response.get_data(as_text=True)

        published, draft = made["Văn tế nghĩa sĩ Cần Giuộc"], made["Sổ bộ mật 大越史記"]
        assert published in page("van te can giuoc")  # indexed as it was published
        reindexed = runner.invoke(args=["reindex"])
        assert reindexed.exit_code == 0 and "indexed 1 items" in reindexed.output
        assert published in page("nghia si")
        assert draft not in page("so bo mat") and draft not in page("史記")
        with app.app_context():
            backend = OpenSearchBackend(URL, index=alias)
            assert len(backend.aliased()) == 1 and backend.aliased() != [f"{alias}-0"]
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.get_json()["search"] == "ok"
    finally:
        with app.app_context():
            db.engine.dispose()
        drop_indices(OpenSearchBackend(URL, index=alias).client, alias)
