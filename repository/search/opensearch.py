"""OpenSearch search: the same protocol and behaviour as SQLite FTS5, for larger collections.

Text is folded in Python with ``fold()`` and cut into words there, by the same rule the
query parser uses (``han_tokens``: a word of letters and digits, or one Han character),
and sent with a space between words. The index only splits on whitespace and folds again
(lowercase, ASCII folding), so "nguyen dinh chieu" finds "Nguyễn Đình Chiểu" and the
words of a document are exactly the words a query can ask for. The original text is kept
unindexed beside it for snippets.

Han characters are words of their own, and a run of them in a query is matched as a
phrase, so "史記" finds "大越史記全書" by its two characters in order, and a single
character finds itself. The words are cut in Python rather than by OpenSearch's
``standard`` tokenizer because that one (Lucene 9's, on an older Unicode) drops
characters it does not know: CJK Extensions G, H and I (U+30000 and beyond) and the
newest unified ideographs (U+9FFD-U+9FFF, U+4DBF) vanished from the index, while
Extension B's chữ Nôm such as 𡨸 were kept. An index made before this keeps its old
analyzer until ``tangthu reindex`` builds a new one; its searches still find what they
found before.

``index`` names an alias. The real indices behind it are ``{alias}-{timestamp}``; a rebuild
fills a new one while searches go on using the old one, then moves the alias in one atomic
step and deletes the old index.

Queries are built only from folded word tokens (``Query``) with match, multi_match,
match_phrase and terms: reader text never reaches a query parser.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from opensearchpy import NotFoundError, OpenSearch, RequestError, helpers

from ..services.collation import sort_key
from . import (
    FACETS,
    Hit,
    Results,
    SearchDocument,
    SearchRequest,
    fold,
    han_tokens,
    make_snippet,
)

FACET_LIMIT = 30
MAX_WINDOW = 10_000  # OpenSearch's index.max_result_window: hits beyond it are not listed
ANALYZER = "tangthu_folded"
TEXT_FIELDS = ("title^5", "body", "ocr")
SNIPPET_FIELDS = ("item_id", "title_raw", "body_raw", "ocr_raw")
_TITLE = {"sort_title": {"order": "asc"}}
ORDERS: dict[str, list[dict[str, Any]]] = {
    "relevance": [{"_score": {"order": "desc"}}, _TITLE],
    "title": [_TITLE],
    "date": [{"year_start": {"order": "asc", "missing": "_last"}}, _TITLE],
    "-date": [{"year_start": {"order": "desc", "missing": "_last"}}, _TITLE],
}


def index_settings() -> dict[str, Any]:
    """Settings and mappings for one concrete index."""
    keyword = {"type": "keyword"}
    folded = {"type": "text", "analyzer": ANALYZER}
    raw = {"type": "text", "index": False}
    return {
        "settings": {
            # One shard keeps facet counts and top-30 lists exact.
            "number_of_shards": 1,
            "max_result_window": MAX_WINDOW,
            "analysis": {
                # The words are cut in Python (indexed_words): here only split and fold.
                "analyzer": {
                    ANALYZER: {
                        "type": "custom",
                        "tokenizer": "whitespace",
                        "filter": ["lowercase", "asciifolding"],
                    }
                },
            },
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "item_id": keyword,
                "title": {**folded, "store": True},
                "body": folded,
                "ocr": folded,
                "title_raw": raw,
                "body_raw": raw,
                "ocr_raw": raw,
                "sort_title": keyword,
                "collection": keyword,
                "language": keyword,
                "type": keyword,
                "hidden": {"type": "boolean"},
                "year_start": {"type": "integer"},
                "year_end": {"type": "integer"},
                "embargo_until": {"type": "date", "format": "strict_date"},
            },
        },
    }


def indexed_words(text: str) -> str:
    """Folded text as the index holds it: its words, one Han character each, spaced apart."""
    return " ".join(han_tokens(fold(text)))


def document_body(doc: SearchDocument) -> dict[str, Any]:
    """The ``_source`` of one document: folded text to search, original text for snippets."""
    body: dict[str, Any] = {
        "item_id": doc.item_id,
        "title": indexed_words(doc.title),
        "body": indexed_words(doc.text),
        "ocr": indexed_words(doc.ocr),
        "title_raw": doc.title,
        "body_raw": doc.text,
        "ocr_raw": doc.ocr,
        "sort_title": sort_key(doc.title),  # Vietnamese order, as SQLite FTS5 sorts
        "hidden": doc.hidden,
        "year_start": doc.year_start,
        "year_end": doc.year_end,
        "embargo_until": doc.embargo_until.isoformat() if doc.embargo_until else None,
    }
    for facet, values in doc.facet_values().items():
        body[facet] = [value[:200] for value in values if value]
    return body


def _text_clauses(request: SearchRequest) -> list[dict[str, Any]]:
    """Every word somewhere in the title, text or OCR; every phrase whole within one field.

    A word is matched as a phrase: one token is a plain term, but a run of Han characters
    is one word per character, which must stay together and in order.
    """
    query = request.query
    if query.empty:
        return [{"match_all": {}}]
    clauses: list[dict[str, Any]] = [
        {
            "multi_match": {
                "query": " ".join(han_tokens(word)),
                "fields": list(TEXT_FIELDS),
                "type": "phrase",
            }
        }
        for word in query.words
    ]
    for phrase in query.phrases:
        text = " ".join(token for word in phrase for token in han_tokens(word))
        should = [{"match_phrase": {field.split("^")[0]: {"query": text}}} for field in TEXT_FIELDS]
        clauses.append({"bool": {"should": should, "minimum_should_match": 1}})
    return clauses


def _filter_clauses(request: SearchRequest) -> list[dict[str, Any]]:
    """Visibility, facet choices (any value within a facet, every facet) and the year range."""
    clauses: list[dict[str, Any]] = []
    if not request.staff:
        clauses.append(
            {
                "bool": {
                    # A document without the field (an older index) stays hidden.
                    "filter": [{"term": {"hidden": False}}],
                    "should": [
                        {"bool": {"must_not": [{"exists": {"field": "embargo_until"}}]}},
                        {"range": {"embargo_until": {"lte": request.today.isoformat()}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    filters = request.filters
    for facet in FACETS:
        values = filters.values(facet)
        if values:
            clauses.append({"terms": {facet: list(values)}})
    if filters.year_to is not None:
        clauses.append({"range": {"year_start": {"lte": filters.year_to}}})
    if filters.year_from is not None:
        # coalesce(year_end, year_start) >= year_from
        clauses.append(
            {
                "bool": {
                    "should": [
                        {"range": {"year_end": {"gte": filters.year_from}}},
                        {
                            "bool": {
                                "must_not": [{"exists": {"field": "year_end"}}],
                                "filter": [{"range": {"year_start": {"gte": filters.year_from}}}],
                            }
                        },
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    return clauses


def _aggregations() -> dict[str, Any]:
    aggs: dict[str, Any] = {
        facet: {
            "terms": {
                "field": facet,
                "size": FACET_LIMIT,
                "order": [{"_count": "desc"}, {"_key": "asc"}],
            }
        }
        for facet in FACETS
    }
    aggs["century"] = {"histogram": {"field": "year_start", "interval": 100, "min_doc_count": 1}}
    return aggs


def build_query(request: SearchRequest) -> dict[str, Any]:
    """The search body for one page of a request, with facet aggregations when wanted."""
    offset = min(max(request.offset, 0), MAX_WINDOW)
    size = max(0, min(request.limit, MAX_WINDOW - offset))
    body: dict[str, Any] = {
        "query": {"bool": {"must": _text_clauses(request), "filter": _filter_clauses(request)}},
        "sort": [*copy.deepcopy(ORDERS[request.order]), {"item_id": {"order": "asc"}}],
        "from": offset,
        "size": size,
        "track_total_hits": True,
        "_source": list(SNIPPET_FIELDS),
    }
    if request.facets:
        body["aggs"] = _aggregations()
    return body


def _top(counts: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts, key=lambda pair: (-pair[1], pair[0]))[:FACET_LIMIT])


def parse_response(raw: Mapping[str, Any], request: SearchRequest) -> Results:
    """Hits with snippets from the original text, the total, and facet counts."""
    found = raw.get("hits", {})
    total = found.get("total", 0)
    total = int(total["value"] if isinstance(total, Mapping) else total)
    hits = []
    for hit in found.get("hits", []):
        source = hit.get("_source", {})
        texts = [source.get(name) or "" for name in ("body_raw", "ocr_raw", "title_raw")]
        item_id = str(source.get("item_id") or hit["_id"])
        hits.append(Hit(item_id, make_snippet(texts, request.query)))
    facets: dict[str, tuple[tuple[str, int], ...]] = {}
    aggregations = raw.get("aggregations", {}) if request.facets else {}
    for facet in FACETS:
        buckets = aggregations.get(facet, {}).get("buckets", [])
        counts = [(str(b["key"]), int(b["doc_count"])) for b in buckets if b["doc_count"]]
        if counts:
            facets[facet] = _top(counts)
    # Histogram keys are the floor of year_start to a multiple of 100: 1850 -> 1800.0 -> "18".
    buckets = aggregations.get("century", {}).get("buckets", [])
    centuries = [(str(int(b["key"]) // 100), int(b["doc_count"])) for b in buckets]
    centuries = [pair for pair in centuries if pair[1]]
    if centuries:
        facets["century"] = _top(centuries)
    return Results(tuple(hits), total, facets)


class OpenSearchBackend:
    """Search in OpenSearch, through the alias ``index``."""

    def __init__(
        self, url: str, index: str = "tangthu", timeout: float = 10.0, client: Any = None
    ) -> None:
        self.client = client if client is not None else OpenSearch(hosts=[url], timeout=timeout)
        self.alias = index
        self._ready = False

    # -- indices and the alias

    def _new_name(self) -> str:
        return f"{self.alias}-{datetime.now(UTC):%Y%m%d%H%M%S%f}"

    def aliased(self) -> list[str]:
        """The concrete indices the alias points to now (normally one)."""
        try:
            return sorted(self.client.indices.get_alias(name=self.alias))
        except NotFoundError:
            return []

    def ensure_index(self) -> None:
        """Create the first index and the alias to it, unless the alias already exists."""
        if self._ready:
            return
        if not self.client.indices.exists_alias(name=self.alias):
            # A fixed first name: processes starting together create one index, not several.
            first = f"{self.alias}-0"
            try:
                self.client.indices.create(
                    index=first, body={**index_settings(), "aliases": {self.alias: {}}}
                )
            except RequestError as error:
                if error.error != "resource_already_exists_exception":
                    raise
                self.client.indices.put_alias(index=first, name=self.alias)
        self._ready = True

    def begin_rebuild(self) -> str:
        """A new, empty index for a rebuild; searches keep using the alias meanwhile.

        Nobody searches it until ``finish_rebuild``, so it is not refreshed every second
        while it fills (OpenSearch's advice for bulk loads)."""
        name = self._new_name()
        body = index_settings()
        body["settings"]["refresh_interval"] = "-1"
        self.client.indices.create(index=name, body=body)
        return name

    def finish_rebuild(self, name: str) -> None:
        """Point the alias at ``name`` in one atomic step, then delete the indices it left."""
        # Back to the default refresh, and everything written so far made searchable.
        self.client.indices.put_settings(index=name, body={"index": {"refresh_interval": None}})
        self.client.indices.refresh(index=name)
        old = [index for index in self.aliased() if index != name]
        actions: list[dict[str, Any]] = [{"add": {"index": name, "alias": self.alias}}]
        actions += [{"remove": {"index": index, "alias": self.alias}} for index in old]
        self.client.indices.update_aliases(body={"actions": actions})
        self._ready = True
        for index in old:
            try:
                self.client.indices.delete(index=index)
            except NotFoundError:
                pass

    # -- the SearchBackend protocol

    def index(self, documents: list[SearchDocument], into: str | None = None) -> None:
        """Add or replace documents: in the live index, or ``into`` a rebuild's new index."""
        if not documents:
            return
        if into is None:
            self.ensure_index()
        target = into or self.alias
        actions = (
            {"_op_type": "index", "_index": target, "_id": d.item_id, "_source": document_body(d)}
            for d in documents
        )
        if into is None:
            # Visible to the next search, and never a stray index made by a write to no alias.
            helpers.bulk(self.client, actions, refresh="wait_for", require_alias=True)
        else:
            helpers.bulk(self.client, actions)  # finish_rebuild refreshes

    def remove(self, item_id: str) -> None:
        try:
            self.client.delete(index=self.alias, id=item_id, refresh="wait_for")
        except NotFoundError:
            pass

    def rebuild(self, batches: Iterable[list[SearchDocument]]) -> int:
        """Fill a new index while searches use the old one, then move the alias to it."""
        name = self.begin_rebuild()
        count = 0
        for batch in batches:
            self.index(batch, into=name)
            count += len(batch)
        self.finish_rebuild(name)
        return count

    def clear(self) -> None:
        """Swap in a fresh, empty index."""
        self.finish_rebuild(self.begin_rebuild())

    def search(self, request: SearchRequest) -> Results:
        """One page of hits, the total, and facet counts over everything that matched."""
        if request.browsing and request.filters.empty:
            return Results()
        try:
            raw = self.client.search(index=self.alias, body=build_query(request))
        except NotFoundError as error:
            if error.error == "index_not_found_exception":
                return Results()  # nothing indexed yet
            raise
        return parse_response(raw, request)
