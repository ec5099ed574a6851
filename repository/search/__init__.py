"""Search: a SearchBackend protocol; SQLite FTS5 by default, OpenSearch to scale out.

Vietnamese is folded the same way on both sides of every search, so "nguyen dinh chieu"
finds "Nguyễn Đình Chiểu" and "dai viet" finds "Đại Việt": tones and vowel marks go,
and đ becomes d. Snippets are cut from the original text, diacritics and all, with the
words that matched marked.

The index is self-contained: each document carries what decides whether it may be
shown (its access level and embargo) and its facet values, so a backend filters and
counts without asking the database.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

MAX_QUERY = 500
MAX_FILTER_VALUES = 10
_WORD = re.compile(r"\w+", re.UNICODE)
FACETS = ("collection", "language", "type")
SORTS = ("relevance", "date", "-date", "title")


def fold(text: str) -> str:
    """Lower case, no diacritics, đ → d: the form both documents and queries are kept in."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", stripped).lower()


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


def make_snippet(texts: list[str], query: Query, words: int = 30) -> str:
    """The window of original text where most query words meet, matches in [[ ]]."""
    terms = query.terms
    for text in texts:
        tokens = list(_WORD.finditer(text))
        folded = [fold(m.group()) for m in tokens]
        marked = [i for i, word in enumerate(folded) if word in terms]
        if not marked:
            continue
        best, best_count = 0, -1
        for first in marked[:200]:
            start = max(0, first - words // 3)
            count = len({folded[i] for i in marked if start <= i < start + words})
            if count > best_count:
                best, best_count = start, count
        end = min(len(tokens), best + words)
        pieces, position = [], tokens[best].start()
        for index in range(best, end):
            match = tokens[index]
            pieces.append(text[position : match.start()])
            word = match.group()
            pieces.append(f"[[{word}]]" if folded[index] in terms else word)
            position = match.end()
        prefix = "…" if best > 0 else ""
        suffix = "…" if end < len(tokens) else ""
        return prefix + " ".join("".join(pieces).split()) + suffix
    opening = next((t for t in texts if t.strip()), "")
    leading = opening.split()
    return " ".join(leading[:words]) + ("…" if len(leading) > words else "")
