"""Cataloguing: describe an item, arrange its pages and its table of contents.

The views hand over frozen dataclasses; these functions check them, change the rows,
republish a published item so its manifest and sidecars follow, and record the audit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..extensions import db
from ..models import Item
from ..storage import Storage
from .audit import record
from .errors import Refused
from .ocr import languages_for, queue_pages
from .publish import PublishSettings, publish_item

DC_FIELDS = (
    "creator",
    "contributor",
    "date",
    "publisher",
    "subject",
    "description",
    "type",
    "format",
    "source",
    "rights",
    "relation",
    "coverage",
    "language",
    "identifier",
)
_TAGGED = re.compile(r"^\[([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)\]\s*(.+)$")


def parse_values(text: str) -> list[dict[str, str]]:
    """One value per line; a line may start with a language tag: "[lzh] 斷腸新聲"."""
    values = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        tagged = _TAGGED.match(line)
        lang, value = (tagged.group(1), tagged.group(2)) if tagged else ("", line)
        values.append({"value": value[:2000], "lang": lang})
    return values


def format_values(values: list[dict[str, str]]) -> str:
    return "\n".join(f"[{v['lang']}] {v['value']}" if v.get("lang") else v["value"] for v in values)


@dataclass(frozen=True, slots=True)
class ItemDescription:
    title: dict[str, str]
    summary: dict[str, str]
    dc: dict[str, str]  # element -> lines, as typed
    year_start: int | None
    year_end: int | None
    viewing_direction: str
    behavior: str
    rights: str
    access: str
    embargo_until: date | None
    ocr_languages: str | None = None  # None: as the collection says


@dataclass(frozen=True, slots=True)
class Actor:
    username: str
    address: str | None = None


def describe_item(
    item: Item,
    description: ItemDescription,
    actor: Actor,
    storage: Storage,
    settings: PublishSettings,
) -> int:
    """Save a curator's description; a published item is republished at once.

    Returns how many pages were queued for text recognition by a change of its languages.
    """
    start, end = description.year_start, description.year_end
    if start is not None and end is not None and start > end:
        raise Refused(fields={"year_end": "The last year comes before the first."})
    before = (item.access, item.embargo_until)
    item.title = {k: v for k, v in description.title.items() if v}
    item.summary = {k: v for k, v in description.summary.items() if v}
    item.dc = {
        name: parse_values(text) for name, text in description.dc.items() if parse_values(text)
    }
    item.year_start, item.year_end = start, end if end is not None else start
    item.viewing_direction = description.viewing_direction
    item.behavior = description.behavior
    item.rights = description.rights
    item.access = description.access
    item.embargo_until = description.embargo_until
    ocr_before = languages_for(item)
    item.ocr_languages = description.ocr_languages
    queued = queue_pages(item) if languages_for(item) != ocr_before else 0
    db.session.commit()
    record("item-updated", actor.username, target=item.id, address=actor.address)
    _audit_access(item, before, actor)
    if item.status == "published":
        publish_item(item, storage, settings)
    return queued


def change_access(
    item: Item,
    access: str,
    embargo_until: date | None,
    actor: Actor,
    storage: Storage,
    settings: PublishSettings,
) -> None:
    """Set an item's access level and embargo; a published item is republished at once,
    so its manifest and the image server's sidecars follow."""
    before = (item.access, item.embargo_until)
    item.access = access
    item.embargo_until = embargo_until
    db.session.commit()
    _audit_access(item, before, actor)
    if item.status == "published":
        publish_item(item, storage, settings)


def _audit_access(item: Item, before: tuple[str, date | None], actor: Actor) -> None:
    """An access change goes to the audit log: from what, to what, and by whom."""
    if (item.access, item.embargo_until) == before:
        return
    was = f"{before[0]} {before[1] or ''}".strip()
    now = f"{item.access} {item.embargo_until or ''}".strip()
    record(
        "access-changed",
        actor.username,
        target=item.id,
        address=actor.address,
        detail=f"{was} -> {now}",
    )


@dataclass(frozen=True, slots=True)
class PageArrangement:
    order: tuple[str, ...]  # image ids, first page first
    labels: dict[str, str] = field(default_factory=dict)
    start_image_id: str | None = None


def arrange_pages(
    item: Item,
    arrangement: PageArrangement,
    actor: Actor,
    storage: Storage,
    settings: PublishSettings,
) -> None:
    """Reorder and relabel the pages; the order must name every page exactly once."""
    images = {image.id: image for image in item.images}
    if sorted(arrangement.order) != sorted(images):
        raise Refused(fields={"order": "The page order must list every page once."})
    for offset, image in enumerate(item.images):  # clear the unique positions first
        image.position = -1 - offset
    db.session.flush()
    for position, image_id in enumerate(arrangement.order, start=1):
        image = images[image_id]
        image.position = position
        label = arrangement.labels.get(image_id)
        if label is not None and label.strip():
            image.label = label.strip()[:255]
    start = arrangement.start_image_id
    item.start_image_id = start if start in images else None
    db.session.commit()
    db.session.refresh(item)
    record("pages-arranged", actor.username, target=item.id, address=actor.address)
    if item.status == "published":
        publish_item(item, storage, settings)


_OUTLINE = re.compile(r"^(?P<indent> *)(?P<label>[^|]+?)\s*(\|\s*(?P<pages>[\d,\s-]*))?$")


def parse_outline(text: str, item: Item) -> list[dict[str, Any]]:
    """A table of contents from an indented outline: "Quyển 1 | 1-12", two spaces a level.

    Page numbers are positions (1 = the first page); ranges and lists are allowed.
    """
    by_position = {image.position: image.id for image in item.images}
    root: list[dict[str, Any]] = []
    stack: list[tuple[int, list[dict[str, Any]]]] = [(-1, root)]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _OUTLINE.match(line.rstrip())
        if not match:
            raise Refused(fields={"toc": f"line {number}: write 'Label | 1-5'"})
        depth = len(match.group("indent")) // 2
        pages = _pages(match.group("pages") or "", by_position, number)
        entry: dict[str, Any] = {
            "label": {"vi": match.group("label").strip()[:500]},
            "pages": pages,
            "children": [],
        }
        while stack[-1][0] >= depth:
            stack.pop()
        if depth > stack[-1][0] + 1:
            raise Refused(fields={"toc": f"line {number}: indented more than one level"})
        stack[-1][1].append(entry)
        stack.append((depth, entry["children"]))
    return root


def _pages(spec: str, by_position: dict[int, str], line: int) -> list[str]:
    pages = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        first, _, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise Refused(fields={"toc": f"line {line}: '{part}' is not a page or a range"})
        low, high = int(first), int(last or first)
        if low > high or low not in by_position or high not in by_position:
            raise Refused(fields={"toc": f"line {line}: pages {part} are not in this item"})
        pages += [by_position[p] for p in range(low, high + 1)]
    return pages


def format_outline(toc: list[dict[str, Any]], item: Item, depth: int = 0) -> str:
    """The table of contents back as the outline a curator edits."""
    positions = {image.id: image.position for image in item.images}
    lines = []
    for entry in toc:
        numbers = sorted(positions[p] for p in entry.get("pages", []) if p in positions)
        label = next((t for t in (entry.get("label") or {}).values() if t), "?")
        pages = f" | {_ranges(numbers)}" if numbers else ""
        lines.append(f"{'  ' * depth}{label}{pages}")
        if entry.get("children"):
            lines.append(format_outline(entry["children"], item, depth + 1))
    return "\n".join(lines)


def _ranges(numbers: list[int]) -> str:
    parts, start = [], None
    for index, number in enumerate(numbers):
        if start is None:
            start = number
        if index + 1 == len(numbers) or numbers[index + 1] != number + 1:
            parts.append(str(start) if start == number else f"{start}-{number}")
            start = None
    return ", ".join(parts)


def set_outline(
    item: Item, text: str, actor: Actor, storage: Storage, settings: PublishSettings
) -> None:
    item.toc = parse_outline(text, item)
    db.session.commit()
    record("toc-updated", actor.username, target=item.id, address=actor.address)
    if item.status == "published":
        publish_item(item, storage, settings)
