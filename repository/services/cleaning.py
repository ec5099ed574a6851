"""Text and addresses from outside, cleaned before they are stored or shown.

Partners' files, harvested records and remote manifests are hostile until checked:
values are NFC without control characters and cut to a size, and only http(s)
addresses are kept (they end up in links on our pages).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

MAX_VALUE = 2000  # characters in one Dublin Core value or title
MAX_SUMMARY = 10_000
MAX_URL = 1000  # the columns' size: a longer address is dropped, never cut
_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*\Z")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def clean_text(value: object, limit: int = MAX_VALUE) -> str:
    """NFC text without control characters, trimmed and cut to ``limit`` characters."""
    text = unicodedata.normalize("NFC", str(value if value is not None else ""))
    return _CONTROL.sub("", text).strip()[:limit].strip()


def http_url(value: object) -> str:
    """The value when it is an http(s) address with a host that fits the columns, else ""."""
    text = clean_text(value, MAX_URL + 1)
    if not text or len(text) > MAX_URL or any(c.isspace() for c in text):
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return text if parts.scheme.lower() in ("http", "https") and parts.hostname else ""


def language_tag(value: object, default: str = "") -> str:
    text = str(value or "").strip()
    return text if _LANG_TAG.match(text) else default


def year_of(text: str) -> int | None:
    found = _YEAR.search(text)
    return int(found.group(1)) if found else None
