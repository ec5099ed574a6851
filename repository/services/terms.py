"""The subjects, creators and places of items, as browsing lists them.

Their values sit in each item's Dublin Core (JSON), which no index reads. So each item's
terms are also written as rows of ``item_term`` whenever its record is written (the
events in ``models``): browsing counts and lists them along an index, and no request
decodes the catalogue's JSON (at 200,000 items that took 6.6 s). Spellings that differ only
in case, spacing or Unicode form are one term (``term_key``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from .collation import sort_key

TERM_LENGTH = 200  # characters of a term kept and compared
# Dublin Core elements each kind of term is read from.
TERM_ELEMENTS = {
    "subject": ("subject",),
    "creator": ("creator",),
    "place": ("coverage", "spatial"),
}


def term_key(value: str) -> str:
    """Spellings of one term that differ only in case, spacing or Unicode form meet."""
    return " ".join(unicodedata.normalize("NFC", value).split()).casefold()[:TERM_LENGTH]


def term_values(dc: Any, elements: Sequence[str]) -> list[str]:
    """The non-empty values of these elements of a Dublin Core record, tolerating odd shapes."""
    found: list[str] = []
    if not isinstance(dc, dict):
        return found
    for element in elements:
        entries = dc.get(element)
        for entry in entries if isinstance(entries, list) else []:
            value = entry.get("value") if isinstance(entry, dict) else entry
            if isinstance(value, str) and value.strip():
                found.append(" ".join(value.split())[:TERM_LENGTH])
    return found


def term_rows(item_id: str, dc: Any, title_sort: str) -> list[dict[str, str]]:
    """An item's rows of ``item_term``: each kind's terms once, as first spelled, with the
    sort key of the item's title (``models.Item.title_sort``)."""
    rows: list[dict[str, str]] = []
    for kind, elements in TERM_ELEMENTS.items():
        seen: set[str] = set()
        for value in term_values(dc, elements):
            key = term_key(value)
            if key and key not in seen:
                seen.add(key)
                rows.append(
                    {
                        "item_id": item_id,
                        "kind": kind,
                        "key": key,
                        "label": value,
                        "sort": sort_key(value),
                        "title_sort": title_sort,
                    }
                )
    return rows
