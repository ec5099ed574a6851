"""Search inside one item's recognised text: IIIF Content Search 2.0 and 1.0.

Words are matched folded, like the catalogue search: "nguyen dinh chieu" finds
"Nguyễn Đình Chiểu" on the page. Several words are looked for as a run, in order (a
reader searching a name wants the name); when no page has the run, each word is
looked for on its own. Every hit carries the boxes of its words, one per line they
cross, in canvas pixels.

Han characters (Hán and chữ Nôm) are matched one by one, as the catalogue does: "史記"
is the run 史, 記, found inside a column of any length, and its box is the box of those
two characters (a recognised word holding several is cut evenly along its line, down a
column or across a row). Han characters are written together, without spaces.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from manifests import Urls

from ..search import HAN, fold, han_tokens, parse_query

MAX_HITS = 500
CONTEXT_WORDS = 5
SEARCH2_CONTEXT = "http://iiif.io/api/search/2/context.json"
SEARCH1_CONTEXT = "http://iiif.io/api/search/1/context.json"
PRESENTATION2_CONTEXT = "http://iiif.io/api/presentation/2/context.json"
_WORD = re.compile(r"\w+", re.UNICODE)
_UNIT = re.compile(f"[{HAN}]|[^{HAN}]+")  # each Han character alone, anything else in runs
# Han, and the CJK and full-width punctuation written with it: no space between these.
_CLOSE = re.compile(f"[{HAN}\u3000-\u303f\uff00-\uffef]")

Word = list[Any]  # [text, x, y, w, h, line]


@dataclass(frozen=True, slots=True)
class Page:
    image_id: str
    words: list[Word]
    language: str = ""  # BCP 47, for the text bodies


@dataclass(frozen=True, slots=True)
class TextHit:
    image_id: str
    words: tuple[Word, ...]
    before: str
    after: str
    number: int  # position among all hits, for ids

    @property
    def match(self) -> str:
        return join_words(str(w[0]) for w in self.words)

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """One box per line the hit crosses: x, y, w, h."""
        lines: dict[int, list[Word]] = {}
        for word in self.words:
            lines.setdefault(int(word[5]), []).append(word)
        return [union(words) for words in lines.values()]


def union(words: Iterable[Word]) -> tuple[int, int, int, int]:
    boxes = [(int(w[1]), int(w[2]), int(w[1]) + int(w[3]), int(w[2]) + int(w[4])) for w in words]
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return left, top, right - left, bottom - top


def _gap(left: str, right: str) -> str:
    """What stands between two words in running text: nothing between Han characters."""
    if not left or not right or (_CLOSE.match(left[-1]) and _CLOSE.match(right[0])):
        return ""
    return " "


def join_words(words: Iterable[str]) -> str:
    """Words as running text: spaces between words, none between Han characters."""
    text = ""
    for word in words:
        if word:
            text += _gap(text, word) + word
    return text


def token(text: str) -> str:
    """A recognised word as search compares it: folded, punctuation dropped."""
    return "".join(han_tokens(fold(text)))


def units(word: Word) -> list[Word]:
    """A word as search matches it: one per Han character, each with its share of the
    word's box along its line (down when the box is taller than wide)."""
    text = str(word[0])
    parts = _UNIT.findall(text)
    if len(parts) < 2:
        return [word]
    x, y, w, h = (int(v) for v in word[1:5])
    along = h if h > w else w
    pieces, offset = [], 0
    for part in parts:
        start = along * offset // len(text)
        end = along * (offset + len(part)) // len(text)
        box = (x, y + start, w, end - start) if h > w else (x + start, y, end - start, h)
        pieces.append([part, *box, word[5]])
        offset += len(part)
    return pieces


def query_terms(text: str) -> tuple[tuple[str, ...], ...]:
    """The query's words, each as the run of tokens it matches (Han one by one)."""
    parsed = parse_query(text)
    terms = list(parsed.words)
    for phrase in parsed.phrases:
        terms.extend(phrase)
    return tuple(t for t in (tuple(han_tokens(term)) for term in terms) if t)


def find(pages: Iterable[Page], text: str, limit: int = MAX_HITS) -> list[TextHit]:
    """Hits for the query, page by page in reading order."""
    terms = query_terms(text)
    if not terms:
        return []
    pages = list(pages)
    hits = _runs(pages, (tuple(t for term in terms for t in term),), limit)
    if not hits and len(terms) > 1:
        hits = _runs(pages, terms, limit)
    return hits


def _runs(pages: list[Page], wanted: tuple[tuple[str, ...], ...], limit: int) -> list[TextHit]:
    """Every place where one of the wanted runs stands; punctuation between is skipped."""
    hits: list[TextHit] = []
    for page in pages:
        words = [u for w in page.words for u in units(w)]
        tokens = [token(str(w[0])) for w in words]
        places = [i for i, t in enumerate(tokens) if t]  # the words that are not punctuation
        index = 0
        while index < len(places) and len(hits) < limit:
            length = next(
                (
                    len(run)
                    for run in wanted
                    if tuple(tokens[i] for i in places[index : index + len(run)]) == run
                ),
                0,
            )
            if not length:
                index += 1
                continue
            first, last = places[index], places[index + length - 1] + 1
            found = words[first:last]
            before = join_words(str(w[0]) for w in words[max(0, first - CONTEXT_WORDS) : first])
            after = join_words(str(w[0]) for w in words[last : last + CONTEXT_WORDS])
            match = join_words(str(w[0]) for w in found)
            hits.append(
                TextHit(
                    page.image_id,
                    tuple(found),
                    before + _gap(before, match),
                    _gap(match, after) + after,
                    len(hits),
                )
            )
            index += length
    return hits


def complete(pages: Iterable[Page], prefix: str, limit: int = 10) -> list[tuple[str, int]]:
    """Words on the pages that begin with the prefix, most frequent first."""
    wanted = token(prefix)
    if len(wanted) < 2:
        return []
    counts: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for page in pages:
        for word in page.words:
            folded = token(str(word[0]))
            if folded.startswith(wanted):
                counts[folded] += 1
                shown.setdefault(folded, "".join(_WORD.findall(str(word[0]))).lower())
    return [(shown[w], n) for w, n in counts.most_common(limit)]


def _target(urls: Urls, item_id: str, image_id: str, box: tuple[int, int, int, int]) -> str:
    return f"{urls.canvas(item_id, image_id)}#xywh={box[0]},{box[1]},{box[2]},{box[3]}"


def _parts(base: str, urls: Urls, item_id: str, hit: TextHit) -> list[tuple[str, str]]:
    """(annotation id, canvas target) for each line the hit crosses."""
    return [
        (f"{base}/hit/{hit.number}/{part}", _target(urls, item_id, hit.image_id, box))
        for part, box in enumerate(hit.boxes())
    ]


def search_v2(
    urls: Urls, item_id: str, text: str, hits: list[TextHit], ignored: list[str] | None = None
) -> dict[str, Any]:
    """A Content Search 2.0 AnnotationPage: the words as annotations, and the hits as
    highlighting annotations quoting them in context."""
    base = urls.search(item_id)
    items, highlights = [], []
    for hit in hits:
        parts = _parts(base, urls, item_id, hit)
        ids = [annotation_id for annotation_id, _ in parts]
        body = {"type": "TextualBody", "value": hit.match, "format": "text/plain"}
        items += [
            {
                "id": i,
                "type": "Annotation",
                "motivation": "supplementing",
                "body": body,
                "target": t,
            }
            for i, t in parts
        ]
        highlights.append(
            {
                "id": f"{base}/hit/{hit.number}",
                "type": "Annotation",
                "motivation": "highlighting",
                "target": {
                    "type": "SpecificResource",
                    "source": ids[0],
                    "selector": [
                        {
                            "type": "TextQuoteSelector",
                            "prefix": hit.before,
                            "exact": hit.match,
                            "suffix": hit.after,
                        }
                    ],
                },
            }
        )
    page_id = f"{base}?q={_quote(text)}"
    page: dict[str, Any] = {
        "@context": SEARCH2_CONTEXT,
        "id": page_id,
        "type": "AnnotationPage",
        # One page holds every hit (at most MAX_HITS); it is the whole collection.
        "partOf": {
            "id": f"{page_id}&collection",
            "type": "AnnotationCollection",
            "total": len(hits),
            "first": {"id": page_id, "type": "AnnotationPage"},
            "last": {"id": page_id, "type": "AnnotationPage"},
        },
        "startIndex": 0,
        "items": items,
    }
    if ignored:
        page["ignored"] = ignored
    if highlights:
        page["annotations"] = [{"type": "AnnotationPage", "items": highlights}]
    return page


def search_v1(
    urls: Urls, item_id: str, text: str, hits: list[TextHit], ignored: list[str] | None = None
) -> dict[str, Any]:
    """A Content Search 1.0 annotation list with hits, as Mirador 4 reads it."""
    base = urls.search(item_id, 1)
    resources, found = [], []
    for hit in hits:
        parts = _parts(base, urls, item_id, hit)
        ids = [annotation_id for annotation_id, _ in parts]
        chars = {"@type": "cnt:ContentAsText", "chars": hit.match}
        resources += [
            {
                "@id": i,
                "@type": "oa:Annotation",
                "motivation": "sc:painting",
                "resource": chars,
                "on": t,
            }
            for i, t in parts
        ]
        found.append(
            {
                "@type": "search:Hit",
                "annotations": ids,
                "match": hit.match,
                "before": hit.before,
                "after": hit.after,
            }
        )
    return {
        "@context": [PRESENTATION2_CONTEXT, SEARCH1_CONTEXT],
        "@id": f"{base}?q={_quote(text)}",
        "@type": "sc:AnnotationList",
        "within": {
            "@type": "sc:Layer",
            "total": len(found),
            **({"ignored": ignored} if ignored else {}),
        },
        "resources": resources,
        "hits": found,
    }


def autocomplete_v2(
    urls: Urls, item_id: str, prefix: str, terms: list[tuple[str, int]]
) -> dict[str, Any]:
    return {
        "@context": SEARCH2_CONTEXT,
        "id": f"{urls.autocomplete(item_id)}?q={_quote(prefix)}",
        "type": "TermPage",
        "items": [
            {
                "value": term,
                "total": count,
                "service": [
                    {"id": f"{urls.search(item_id)}?q={_quote(term)}", "type": "SearchService2"}
                ],
            }
            for term, count in terms
        ],
    }


def autocomplete_v1(
    urls: Urls, item_id: str, prefix: str, terms: list[tuple[str, int]]
) -> dict[str, Any]:
    return {
        "@context": SEARCH1_CONTEXT,
        "@id": f"{urls.autocomplete(item_id, 1)}?q={_quote(prefix)}",
        "@type": "search:TermList",
        "terms": [
            {"match": term, "url": f"{urls.search(item_id, 1)}?q={_quote(term)}", "count": count}
            for term, count in terms
        ],
    }


def text_annotations(urls: Urls, item_id: str, page: Page, version: int = 3) -> dict[str, Any]:
    """The page's text, a line per annotation: an AnnotationPage (3.0, 'supplementing')
    or an AnnotationList (2.1)."""
    lines: dict[int, list[Word]] = {}
    for word in page.words:
        lines.setdefault(int(word[5]), []).append(word)
    if version == 2:
        return {
            "@context": PRESENTATION2_CONTEXT,
            "@id": urls.text(item_id, page.image_id, "list"),
            "@type": "sc:AnnotationList",
            "resources": [
                {
                    "@id": f"{urls.text(item_id, page.image_id, 'list')}/line/{number}",
                    "@type": "oa:Annotation",
                    "motivation": "sc:painting",
                    "resource": {
                        "@type": "cnt:ContentAsText",
                        "chars": join_words(str(w[0]) for w in words),
                    },
                    "on": _target(urls, item_id, page.image_id, union(words)),
                }
                for number, words in lines.items()
            ],
        }
    page_id = urls.text(item_id, page.image_id, "annotations")
    body: dict[str, Any] = {"type": "TextualBody", "format": "text/plain"}
    if page.language:
        body["language"] = page.language
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": page_id,
        "type": "AnnotationPage",
        "items": [
            {
                "id": f"{page_id}/line/{number}",
                "type": "Annotation",
                "motivation": "supplementing",
                "body": {**body, "value": join_words(str(w[0]) for w in words)},
                "target": _target(urls, item_id, page.image_id, union(words)),
            }
            for number, words in lines.items()
        ],
    }


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
