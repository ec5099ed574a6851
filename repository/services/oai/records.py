"""What OAI-PMH shows: which items are records, their sets, and their metadata.

Records are published items (and withdrawn ones, as deleted records, for ever). Items
that anonymous readers may not know of (staff level, under embargo, drafts) do not
exist for OAI, not even as deleted. Sets are collections, nested as ``parent:child``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lxml import etree
from sqlalchemy import ColumnElement

from ...extensions import db
from ...models import Collection, Item
from ..access import publicly_known, publicly_known_items
from ..marc import marcxml
from ..publish import DC_LABELS
from ..recent import Recent
from ..record_values import clean, dc_values, language_values, years
from .protocol import DC_NS, FORMATS, OAI_DC_NS, SET_SPEC, XML_LANG, XSI_NS, OaiSettings


def record_datestamp() -> ColumnElement[datetime]:
    """A record changes when its item's row does. ``updated_at`` is never empty, and lists
    walk it in the order of its index (ix_item_changed), a page at a time."""
    return Item.updated_at.expression


def harvestable(today: date | None = None) -> ColumnElement[bool]:
    """Published items anyone may know of, and withdrawn ones that were such."""
    return publicly_known_items(today)


def is_harvestable(item: Item) -> bool:
    """The same rule as ``harvestable``, for one item."""
    return publicly_known(item)


def pick(values: dict[str, str] | None, default: str = "") -> str:
    """Vietnamese, else English, else any language."""
    values = values or {}
    for lang in ("vi", "en"):
        if values.get(lang):
            return values[lang]
    return next((v for v in values.values() if v), default)


@dataclass(frozen=True, slots=True)
class OaiSet:
    spec: str
    name: str
    description: dict[str, str]


@dataclass(frozen=True, slots=True)
class SetTree:
    """Every collection's full setSpec (``parent:child``), by collection id."""

    sets: dict[int, OaiSet]

    @classmethod
    def load(cls) -> SetTree:
        rows = db.session.execute(
            db.select(
                Collection.id,
                Collection.slug,
                Collection.parent_id,
                Collection.title,
                Collection.description,
            )
        ).all()
        by_id = {row.id: row for row in rows}
        sets: dict[int, OaiSet] = {}
        for row in rows:
            parts: list[str] = []
            seen: set[int] = set()
            current: Any = row
            while current is not None and current.id not in seen:
                seen.add(current.id)
                parts.append(current.slug)
                current = by_id.get(current.parent_id) if current.parent_id else None
            spec = ":".join(reversed(parts))
            if SET_SPEC.match(spec):  # a slug the protocol cannot carry makes no set
                name = pick(row.title, row.slug)
                sets[row.id] = OaiSet(spec, clean(name), dict(row.description or {}))
        return cls(sets)

    def specs_of(self, collection_id: int) -> list[str]:
        """The item's set and each set above it, the widest first."""
        found = self.sets.get(collection_id)
        if found is None:
            return []
        parts = found.spec.split(":")
        return [":".join(parts[: n + 1]) for n in range(len(parts))]

    def members(self, spec: str) -> list[int]:
        """The collections in the set: the one named and those beneath it."""
        return [
            cid
            for cid, found in self.sets.items()
            if found.spec == spec or found.spec.startswith(f"{spec}:")
        ]


def oai_dc(item: Item, settings: OaiSettings) -> etree._Element:
    """Simple Dublin Core, each value keeping its language as xml:lang."""
    root = etree.Element(
        f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS}
    )
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_DC_NS} {FORMATS['oai_dc'].schema}")

    def add(element: str, values: Iterable[tuple[str, str | None]]) -> None:
        for text, lang in values:
            node = etree.SubElement(root, f"{{{DC_NS}}}{element}")
            node.text = text
            if lang:
                node.set(XML_LANG, lang)

    add("title", language_values(item.title))
    for element in DC_LABELS:
        if element == "rights":
            continue
        add(element, dc_values(item, element))
        if element == "description":
            add("description", language_values(item.summary))
        if element == "date" and not dc_values(item, "date") and years(item):
            add("date", [(years(item), None)])
        if element == "type" and not dc_values(item, "type"):
            add("type", [("Text", "en")])
    add("identifier", [(settings.urls.item_page(item.id), None)])
    add("identifier", [(settings.urls.manifest(item.id), None)])
    add("rights", dc_values(item, "rights"))
    rights = item.rights or settings.default_rights
    if rights:
        add("rights", [(clean(rights), None)])
    return root


WRITERS: dict[str, Callable[[Item, OaiSettings], etree._Element]] = {
    "oai_dc": oai_dc,
    "marcxml": lambda item, settings: marcxml(item, settings.urls, settings.default_rights),
}


class Written:
    """Each record's metadata as written, by format and item and the item's ``updated_at``,
    the least recently asked dropped first past ``limit``. Every change to an item's row
    sets ``updated_at`` (a record's datestamp depends on it), so a kept record is never
    older than its item; the settings it was written with are part of the key too.

    Writing 100 ``oai_dc`` records was half the CPU of a ``ListRecords`` page at 200,000
    items; reading one back is a parse in C. Harvesters ask for the same records again and
    again (every incremental harvest, every partner), as DSpace keeps its records compiled.
    """

    def __init__(self, limit: int) -> None:
        self._kept: Recent[tuple[object, ...], bytes] = Recent(limit)

    @staticmethod
    def _key(prefix: str, item: Item, settings: OaiSettings) -> tuple[object, ...]:
        return (prefix, item.id, item.updated_at, settings.urls.base, settings.default_rights)

    def read_missing(self, prefix: str, items: Sequence[Item], settings: OaiSettings) -> None:
        """Read whole, in one statement, the rows of the records not kept written: a list's
        page loads only what headers need."""
        missing = [
            item.id
            for item in items
            if item.status == "published"
            and self._kept.get(self._key(prefix, item, settings)) is None
        ]
        if missing:  # the session's items take the columns they lacked
            db.session.execute(db.select(Item).where(Item.id.in_(missing))).scalars().all()

    def metadata(self, prefix: str, item: Item, settings: OaiSettings) -> etree._Element:
        key = self._key(prefix, item, settings)
        found = self._kept.get(key)
        if found is None:
            found = etree.tostring(WRITERS[prefix](item, settings))
            self._kept.put(key, found)
        return etree.fromstring(found)


WRITTEN = Written(10_000)  # about 1 kB each: a few harvests' worth of pages per process
