"""Search: a SearchBackend protocol; SQLite FTS5 by default (OpenSearch to scale out).

Vietnamese is folded the same way on both sides of every search, so "nguyen dinh chieu"
finds "Nguyễn Đình Chiểu" and "dai viet" finds "Đại Việt": tones and vowel marks go,
and đ becomes d.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Protocol

MAX_QUERY = 500
_WORD = re.compile(r"\w+", re.UNICODE)


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


def parse_query(text: str) -> Query:
    """Words, and "exact phrases" in double quotes; every other character is only text."""
    text = fold(text[:MAX_QUERY])
    phrases, words = [], []
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
    item_id: str
    title: str
    text: str  # everything else worth finding: metadata, later OCR


@dataclass(frozen=True, slots=True)
class Hit:
    item_id: str
    snippet: str  # folded text with the matches between [[ and ]]


@dataclass(frozen=True, slots=True)
class Results:
    hits: tuple[Hit, ...] = ()
    total: int = 0
    item_ids: tuple[str, ...] = field(default=())


class SearchBackend(Protocol):
    def index(self, documents: list[SearchDocument]) -> None: ...
    def remove(self, item_id: str) -> None: ...
    def clear(self) -> None: ...
    def search(
        self, query: Query, allowed: set[str] | None, offset: int, limit: int
    ) -> Results: ...
