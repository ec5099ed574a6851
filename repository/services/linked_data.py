"""Published metadata as open data: schema.org JSON-LD for search engines and the
national open-data system, and flat CSV rows for spreadsheets.

Both are built from the same records as the manifests, by pure functions; only items
that exist for everyone are ever passed in.
"""

from __future__ import annotations

from typing import Any

from manifests import Urls
from manifests.builder import fit

from ..models import Item
from .access import ANONYMOUS, shows_thumbnails
from .record_values import LANGUAGE_TAG, dc_values

CSV_COLUMNS = (
    "id",
    "url",
    "manifest",
    "title_vi",
    "title_en",
    "title_other",
    "creator",
    "date",
    "year_start",
    "year_end",
    "language",
    "type",
    "subject",
    "identifier",
    "publisher",
    "description",
    "collection",
    "rights",
    "pages",
    "access",
)
# A cell starting with one of these is run as a formula by spreadsheets (OWASP "CSV
# injection"); harvested records are published unread, so every such cell is quoted.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TYPES = {"map": "Map", "image": "ImageObject", "text": "Book", "manuscript": "Manuscript"}


def _values(item: Item, element: str) -> list[str]:
    return [str(e["value"]) for e in item.dc.get(element, []) if str(e.get("value", "")).strip()]


def _tagged(values: dict[str, str]) -> list[dict[str, str]]:
    """A language map as JSON-LD value objects; "none" (or no tag) has no @language."""
    return [
        {"@value": text, "@language": lang}
        if lang != "none" and LANGUAGE_TAG.match(lang)
        else {"@value": text}
        for lang, text in values.items()
        if text and text.strip()
    ]


def _tagged_values(item: Item, element: str) -> list[str | dict[str, str]]:
    """A Dublin Core element's values, those with a language tag as value objects."""
    return [
        {"@value": text, "@language": lang} if lang else text
        for text, lang in dc_values(item, element)
    ]


def _other_titles(item: Item) -> str:
    """Titles beyond vi and en, each with its tag: "[vi-Hani] … | [lzh] 大越史記全書"."""
    return " | ".join(
        f"[{lang}] {text}" for lang, text in item.title.items() if lang not in ("vi", "en") and text
    )


def schema_org(item: Item, urls: Urls, library: dict[str, str], rights: str) -> dict[str, Any]:
    """The item as a schema.org CreativeWork, language tags kept."""
    page = urls.item_page(item.id)
    kinds = [TYPES[t.lower()] for t in _values(item, "type") if t.lower() in TYPES]
    document: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": kinds[0] if kinds else "CreativeWork",
        "@id": page,
        "url": page,
        "name": _tagged(item.title),
        "isAccessibleForFree": True,
        "license": item.rights or rights,
        "isPartOf": {
            "@type": "Collection",
            "name": _tagged(item.collection.title),
            "url": f"{urls.base}/collections/{item.collection.slug}",
        },
        "provider": {"@type": "Library", "name": _tagged(library), "url": f"{urls.base}/"},
        "subjectOf": {
            "@type": "CreativeWork",
            "url": urls.manifest(item.id),
            "encodingFormat": 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"',
            "name": "IIIF Presentation 3.0 manifest",
        },
    }
    if any(item.summary.values()):
        document["description"] = _tagged(item.summary)
    creators = _values(item, "creator")
    if creators:
        document["creator"] = [{"@type": "Person", "name": name} for name in creators]
    if _values(item, "date"):
        document["dateCreated"] = _values(item, "date")[0]
    if item.year_start is not None:
        end = item.year_end if item.year_end is not None else item.year_start
        document["temporalCoverage"] = (
            f"{item.year_start:04d}"
            if end == item.year_start
            else f"{item.year_start:04d}/{end:04d}"
        )
    # BCP 47 tags are what schema.org's inLanguage holds; identifiers have no language.
    for element, key in (("language", "inLanguage"), ("identifier", "identifier")):
        if _values(item, element):
            document[key] = _values(item, element)
    for element, key in (
        ("subject", "about"),
        ("publisher", "publisher"),
        ("coverage", "spatialCoverage"),
    ):
        if _tagged_values(item, element):
            document[key] = _tagged_values(item, element)
    if item.images and shows_thumbnails(ANONYMOUS, item):
        first = item.images[0]
        width, height = fit(first.width, first.height, 1200)
        document["image"] = f"{urls.image_service(first.id)}/full/{width},{height}/0/default.jpg"
        small = ",".join(map(str, fit(first.width, first.height, 256)))
        document["thumbnailUrl"] = f"{urls.image_service(first.id)}/full/{small}/0/default.jpg"
    return document


def spreadsheet_safe(cell: str) -> str:
    """The cell with a leading quote if a spreadsheet would run it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def from_spreadsheet(cell: str) -> str:
    """A cell as it was before spreadsheet_safe quoted it."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def csv_row(item: Item, urls: Urls, rights: str) -> dict[str, str]:
    """One item as a flat row, safe to open in a spreadsheet; several values of one
    element are joined with ' | '."""
    row = _plain_row(item, urls, rights)
    return {column: spreadsheet_safe(cell) for column, cell in row.items()}


def _plain_row(item: Item, urls: Urls, rights: str) -> dict[str, str]:
    def joined(element: str) -> str:
        return " | ".join(_values(item, element))

    return {
        "id": item.id,
        "url": urls.item_page(item.id),
        "manifest": urls.manifest(item.id),
        "title_vi": item.title.get("vi", ""),
        "title_en": item.title.get("en", ""),
        "title_other": _other_titles(item),
        "creator": joined("creator"),
        "date": joined("date"),
        "year_start": "" if item.year_start is None else str(item.year_start),
        "year_end": "" if item.year_end is None else str(item.year_end),
        "language": joined("language"),
        "type": joined("type"),
        "subject": joined("subject"),
        "identifier": joined("identifier"),
        "publisher": joined("publisher"),
        "description": item.summary.get("vi", "") or item.summary.get("en", ""),
        "collection": item.collection.slug,
        "rights": item.rights or rights,
        "pages": str(len(item.images)),
        "access": item.access,
    }
