"""An item's description as (text, language) pairs, ready for the XML we write.

OAI-PMH's Dublin Core and the MARC 21 records read the same values the same way: text
XML 1.0 can carry, with a language tag only where it is one.
"""

from __future__ import annotations

import re
from datetime import datetime

from ..models import Item

LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*\Z")
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Values = list[tuple[str, str | None]]


def clean(text: str) -> str:
    """Text with the characters XML 1.0 cannot carry removed."""
    return NOT_XML.sub("", text)


def dc_values(item: Item, element: str) -> Values:
    """An element's values with their language tags (None when unknown or not a tag)."""
    found: Values = []
    entries = (item.dc or {}).get(element) or []
    if not isinstance(entries, list):
        entries = [entries]
    for entry in entries:
        if isinstance(entry, dict):
            value, lang = entry.get("value"), entry.get("lang")
        else:
            value, lang = entry, None
        text = clean(str(value if value is not None else "")).strip()
        if text:
            tag = lang if isinstance(lang, str) and LANGUAGE_TAG.match(lang) else None
            found.append((text, None if tag == "none" else tag))
    return found


def language_values(values: dict[str, str] | None) -> Values:
    """A language map's texts, Vietnamese first."""
    values = values or {}
    ordered = sorted(values.items(), key=lambda pair: (pair[0] != "vi", pair[0] != "en"))
    found: Values = []
    for lang, value in ordered:
        text = clean(str(value or "")).strip()
        if text:
            tag = lang if LANGUAGE_TAG.match(lang) and lang != "none" else None
            found.append((text, tag))
    return found


def years(item: Item) -> str:
    """The item's years as a date when it has no date of its own: "1820" or "1820-1825"."""
    if item.year_start and item.year_end and item.year_end != item.year_start:
        return f"{item.year_start}-{item.year_end}"
    return str(item.year_start) if item.year_start else ""


def datestamp(item: Item) -> datetime:
    """When the item's record last changed: a record changes when its item's row does."""
    return item.updated_at or item.published_at or item.created_at
