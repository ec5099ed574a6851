"""Search: a SearchBackend protocol; SQLite FTS5 by default, OpenSearch to scale out.

Vietnamese is folded the same way on both sides of every search, so "nguyen dinh chieu"
finds "Nguyễn Đình Chiểu" and "dai viet" finds "Đại Việt": tones and vowel marks go,
and đ becomes d. Snippets are cut from the original text, diacritics and all, with the
words that matched marked.

Han characters (Hán and chữ Nôm) are not written with spaces between words, so each one
is a word of its own to search: a run of them in a query is a phrase of single
characters, found wherever those characters stand together.

The index is self-contained: each document carries what decides whether it may be
shown (its access level and embargo) and its facet values, so a backend filters and
counts without asking the database.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Protocol

MAX_QUERY = 500
MAX_FILTER_VALUES = 10
# CJK Unified Ideographs and Extension A, the compatibility ideographs, and the
# supplementary ideographic planes (Extensions B to I, chữ Nôm among them, and the
# compatibility supplement). By range, not by \w: Python 3.11 knows Unicode 14, which has
# no Extensions H and I yet.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"
_HAN = re.compile(f"[{HAN}]")
_WORD = re.compile(f"[{HAN}]+|[^\\W{HAN}]+")  # a run of Han, or a word of anything else
_TOKEN = re.compile(f"[{HAN}]|[^\\W{HAN}]+")  # each Han character alone
FACETS = ("collection", "language", "type")
SORTS = ("relevance", "date", "-date", "title")


def fold(text: str) -> str:
    """Lower case, no diacritics, đ → d: the form both documents and queries are kept in."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", stripped).lower()


def separate_han(text: str) -> str:
    """Spaces around each Han character, so that a tokenizer sees each as one word."""
    return _HAN.sub(r" \g<0> ", text)


def han_tokens(word: str) -> tuple[str, ...]:
    """A query word as the index holds it: a run of Han characters is one per character."""
    return tuple(_TOKEN.findall(word))


@dataclass(frozen=True, slots=True)
class Query:
    """What the reader typed, as words and exact phrases, already folded."""

    words: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.words and not self.phrases

    @property
    def terms(self) -> frozenset[str]:
        """Every folded word a snippet should mark."""
        return frozenset(self.words).union(*self.phrases)


def parse_query(text: str) -> Query:
    """Words, and "exact phrases" in double quotes; every other character is only text."""
    text = fold(text[:MAX_QUERY])
    phrases: list[tuple[str, ...]] = []
    words: list[str] = []
    parts = text.split('"')
    for index, part in enumerate(parts):
        tokens = tuple(_WORD.findall(part))
        # Odd parts lie between quotes; an unbalanced last quote counts as plain words.
        if index % 2 == 1 and index < len(parts) - 1 and len(tokens) > 1:
            phrases.append(tokens)
        else:
            words.extend(tokens)
    return Query(tuple(dict.fromkeys(words))[:20], tuple(phrases)[:5])


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """One published item as search sees it. Text is kept as written; backends fold it."""

    item_id: str
    title: str
    text: str  # every other metadata value worth finding
    ocr: str = ""  # recognised page text, when the item's images are open to all
    collection: str = ""  # the collection's slug
    languages: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    year_start: int | None = None
    year_end: int | None = None
    # From services.access.search_visibility: staff only, and staff only until a day.
    hidden: bool = False
    embargo_until: date | None = None

    @property
    def sort_title(self) -> str:
        return fold(self.title)[:200]

    def facet_values(self) -> dict[str, tuple[str, ...]]:
        values: dict[str, tuple[str, ...]] = {
            "collection": (self.collection,) if self.collection else ()
        }
        values["language"] = tuple(dict.fromkeys(self.languages))
        values["type"] = tuple(dict.fromkeys(self.types))
        return values


@dataclass(frozen=True, slots=True)
class Filters:
    """Facet choices: values within a facet are alternatives; facets narrow each other."""

    collection: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None

    @property
    def empty(self) -> bool:
        return not (self.collection or self.language or self.type) and (
            self.year_from is None and self.year_to is None
        )

    def values(self, facet: str) -> tuple[str, ...]:
        return tuple(getattr(self, facet))


@dataclass(frozen=True, slots=True)
class SearchRequest:
    query: Query = Query()
    filters: Filters = Filters()
    sort: str = "relevance"
    offset: int = 0
    limit: int = 20
    staff: bool = False  # staff also see staff-only and embargoed items
    today: date = field(default_factory=date.today)
    facets: bool = True

    @property
    def browsing(self) -> bool:
        """No words, only facets: list what the facets select."""
        return self.query.empty

    @property
    def order(self) -> str:
        """Relevance needs words; a browse is listed by title unless asked otherwise."""
        return "title" if self.browsing and self.sort == "relevance" else self.sort


@dataclass(frozen=True, slots=True)
class Hit:
    item_id: str
    snippet: str  # original text with the matching words between [[ and ]]


@dataclass(frozen=True, slots=True)
class Results:
    hits: tuple[Hit, ...] = ()
    total: int = 0
    # facet -> (value, count), most common first; 'century' counts by the item's first year
    facets: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)


class SearchBackend(Protocol):
    def index(self, documents: list[SearchDocument]) -> None: ...
    def remove(self, item_id: str) -> None: ...
    def clear(self) -> None: ...
    def rebuild(self, batches: Iterable[list[SearchDocument]]) -> int:
        """Replace everything with these documents; searches keep working meanwhile."""
        ...

    def search(self, request: SearchRequest) -> Results: ...


def parse_filters(args: Mapping[str, list[str]]) -> Filters:
    """Facet choices from request arguments, each checked: unknown or odd values drop out."""

    def texts(name: str) -> tuple[str, ...]:
        values = [v.strip()[:200] for v in args.get(name, []) if v.strip()]
        return tuple(dict.fromkeys(values))[:MAX_FILTER_VALUES]

    def year(name: str) -> int | None:
        values = args.get(name, [])
        raw = values[0].strip() if values else ""
        sign = -1 if raw.startswith("-") else 1
        digits = raw.lstrip("-")
        return sign * int(digits) if digits.isdigit() and len(digits) <= 4 else None

    return Filters(texts("collection"), texts("language"), texts("type"), year("from"), year("to"))


@lru_cache(maxsize=1 << 16)
def _folded_word(word: str) -> str:
    """fold() for one word of a snippet's text: a Han text repeats its characters often."""
    return fold(word)


def make_snippet(texts: list[str], query: Query, words: int = 30) -> str:
    """The window of original text where most query words meet, matches in [[ ]].

    Each Han character counts as a word; a run of them in the query is marked only where
    its characters stand together, and neighbouring marks join: 大越[[史記]]全書.
    """
    singles = {term for term in query.terms if len(han_tokens(term)) == 1}
    runs = {han_tokens(term) for term in query.terms} - {(term,) for term in singles}
    for text in texts:
        tokens = list(_TOKEN.finditer(text))
        folded = [_folded_word(m.group()) for m in tokens]
        hits = {i for i, word in enumerate(folded) if word in singles}
        for run in runs:
            size = len(run)
            for i, word in enumerate(folded):
                if word == run[0] and tuple(folded[i : i + size]) == run:
                    hits.update(range(i, i + size))
        marked = sorted(hits)
        if not marked:
            continue
        best, best_count = 0, -1
        for first in marked[:200]:
            start = max(0, first - words // 3)
            window = marked[bisect_left(marked, start) : bisect_left(marked, start + words)]
            count = len({folded[i] for i in window})
            if count > best_count:
                best, best_count = start, count
        end = min(len(tokens), best + words)
        pieces, position, open_mark = [], tokens[best].start(), False
        for index in range(best, end):
            match = tokens[index]
            gap = text[position : match.start()]
            if open_mark and (gap or index not in hits):
                pieces.append("]]")
                open_mark = False
            pieces.append(gap)
            if index in hits and not open_mark:
                pieces.append("[[")
                open_mark = True
            pieces.append(match.group())
            position = match.end()
        if open_mark:
            pieces.append("]]")
        prefix = "…" if best > 0 else ""
        suffix = "…" if end < len(tokens) else ""
        return prefix + " ".join("".join(pieces).split()) + suffix
    opening = next((t for t in texts if t.strip()), "")
    leading = " ".join(opening.split()[:words])
    # Han text has no spaces to count words by: cut it by length as well.
    limit = words * 8
    cut = leading[:limit]
    return cut + ("…" if len(opening.split()) > words or len(leading) > limit else "")
