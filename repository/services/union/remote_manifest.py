"""One remote IIIF manifest (Presentation 3 or 2.1) described here as a record.

Its pages stay at its institution: the item links to the manifest and opens it in the
viewer. The manifest is fetched only from the public internet (or ``allow_networks``).
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterable
from typing import Any

import requests

from ...extensions import db
from ...models import Collection, Item
from ...storage import Storage
from ..cleaning import MAX_SUMMARY, MAX_URL, MAX_VALUE, clean_text, http_url, language_tag, year_of
from ..errors import Refused, ServiceError
from ..publish import DC_LABELS, PublishSettings, publish_item
from ..safe_fetch import MAX_MANIFEST_BYTES, IPNetwork, fetch_bounded
from .records import MAX_VALUES, RecordDraft, add_value, apply_draft, publisher

_HTML_TAG = re.compile(r"<[^>]*>")
# Labels of manifest metadata (any language, lower case) and the element they fill.
METADATA_ELEMENTS: dict[str, str] = {
    **{
        label.lower(): element for element, labels in DC_LABELS.items() for label in labels.values()
    },
    "author": "creator",
    "authors": "creator",
    "tác giả": "creator",
    "published": "date",
    "publication date": "date",
    "năm": "date",
    "subjects": "subject",
    "languages": "language",
    "identifiers": "identifier",
    "shelfmark": "identifier",
    "call number": "identifier",
    "license": "rights",
    "place": "coverage",
}


def _strings(value: Any) -> list[tuple[str, str]]:
    """(text, language) pairs from a P3 language map or P2 strings and @value objects."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        found.append((value, ""))
    elif isinstance(value, dict) and "@value" in value:
        found.append((str(value["@value"]), language_tag(value.get("@language"))))
    elif isinstance(value, dict):
        for lang, texts in value.items():
            for text in texts if isinstance(texts, list) else [texts]:
                if isinstance(text, str):
                    found.append((text, "" if lang == "none" else language_tag(lang)))
    elif isinstance(value, list):
        for entry in value[:MAX_VALUES]:
            found += _strings(entry)
    cleaned = []
    for text, lang in found:
        plain = clean_text(html.unescape(_HTML_TAG.sub(" ", text)))
        if plain:
            cleaned.append((re.sub(r"\s+", " ", plain), lang))
    return cleaned


def _language_map(value: Any, limit: int = MAX_VALUE) -> dict[str, str]:
    """The first text in each language; untagged text counts as Vietnamese."""
    found: dict[str, str] = {}
    for text, lang in _strings(value):
        found.setdefault(lang or "vi", text[:limit])
    return found


def _link(value: Any) -> str:
    """The first http(s) address among P3 homepage objects or P2 related values."""
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, str) and http_url(entry):
            return http_url(entry)
        if isinstance(entry, dict):
            url = http_url(entry.get("id") or entry.get("@id") or "")
            if url:
                return url
    return ""


def manifest_draft(document: Any, url: str) -> tuple[RecordDraft, str]:
    """A IIIF Presentation 3 or 2.1 manifest as a record, and its provider's name."""
    if not isinstance(document, dict):
        raise Refused("this JSON is not a IIIF manifest (not an object)")
    kind = document.get("type") or document.get("@type") or ""
    if kind not in ("Manifest", "sc:Manifest"):
        shown = kind if isinstance(kind, str) and kind else "no type"
        raise Refused(f"this JSON is not a IIIF manifest ({clean_text(shown, 60)})")
    title = _language_map(document.get("label"))
    if not title:
        raise Refused("this manifest has no label to use as a title")
    summary = _language_map(document.get("summary") or document.get("description"), MAX_SUMMARY)
    dc: dict[str, list[dict[str, str]]] = {}
    entries = document.get("metadata")
    for entry in entries[:500] if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        labels = [text.lower().strip(" :") for text, _ in _strings(entry.get("label"))]
        element = next((METADATA_ELEMENTS[k] for k in labels if k in METADATA_ELEMENTS), None)
        values = _strings(entry.get("value"))
        if element is None and labels and values:
            element = "description"
            values = [(f"{labels[0]}: {text}", lang) for text, lang in values]
        for text, lang in values:
            if element:
                add_value(dc, element, text, lang)
    year_start = None
    nav_date = document.get("navDate")
    if isinstance(nav_date, str):
        year_start = year_of(nav_date[:10])
    if year_start is None:
        year_start = next(
            (y for y in (year_of(v["value"]) for v in dc.get("date", [])) if y is not None), None
        )
    rights = http_url(document.get("rights") or document.get("license") or "")
    provider = ""
    providers = document.get("provider")
    if isinstance(providers, list) and providers and isinstance(providers[0], dict):
        provider = next(iter(_language_map(providers[0].get("label")).values()), "")
    if not provider and document.get("attribution"):
        provider = next(iter(_language_map(document.get("attribution")).values()), "")
    draft = RecordDraft(
        title=title,
        summary=summary,
        dc=dc,
        year_start=year_start,
        source_url=_link(document.get("homepage")) or _link(document.get("related")),
        remote_manifest=url,
        rights=rights,
    )
    return draft, clean_text(provider, 255)


def fetch_manifest(
    url: str,
    session: requests.Session | None = None,
    *,
    connect_timeout: float = 10,
    read_timeout: float = 30,
    max_bytes: int = MAX_MANIFEST_BYTES,
    allow_networks: Iterable[IPNetwork] = (),
) -> Any:
    """The JSON a manifest URL answers with, or a ServiceError saying why not.

    Only from the public internet or ``allow_networks``, as fetch_bounded decides.
    """
    if not http_url(url):
        raise Refused(f"only http and https manifest addresses are accepted: {url[:200]!r}")
    own = session is None
    session = session or requests.Session()
    try:
        answer = fetch_bounded(
            session,
            url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_bytes=max_bytes,
            deadline=time.monotonic() + connect_timeout + read_timeout * 2,
            accept="application/ld+json, application/json;q=0.9",
            allow_networks=allow_networks,
        )
    except ServiceError as exc:  # refused, too large or unavailable: it stays what it was
        raise exc.__class__(f"cannot register {url}: {exc}", code=exc.code) from None
    finally:
        if own:
            session.close()
    if answer.status != 200:
        raise Refused(f"{url} answered HTTP {answer.status}, not a manifest")
    media = answer.content_type.split(";")[0].strip().lower()
    if "json" not in media:
        raise Refused(f"{url} is not JSON ({media or 'no content type'}), not a manifest")
    try:
        return json.loads(answer.body)
    except (ValueError, RecursionError):
        raise Refused(f"{url} is not valid JSON") from None


def register_manifest(
    url: str,
    collection: Collection,
    institution: str = "",
    publish: bool = True,
    *,
    storage: Storage | None = None,
    settings: PublishSettings | None = None,
    session: requests.Session | None = None,
    allow_networks: Iterable[IPNetwork] = (),
) -> Item:
    """Describe a remote IIIF manifest here; registering the same URL again updates it.

    ``allow_networks``: private networks it may be fetched from (none by default).
    """
    url = clean_text(url, MAX_URL + 1)
    document = fetch_manifest(url, session, allow_networks=allow_networks)
    draft, provider = manifest_draft(document, url)
    target = publisher(storage, settings) if publish else None  # before anything is saved
    try:
        db.session.add(collection)
        db.session.flush()
        item = db.session.execute(
            db.select(Item).filter_by(collection_id=collection.id, remote_manifest=url)
        ).scalar()
        if item is None:
            item = Item(collection_id=collection.id, status="draft")
            db.session.add(item)
        apply_draft(item, draft, institution or provider)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    if target is not None:
        publish_item(item, *target)
    return item
