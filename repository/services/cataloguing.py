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
# BCP 47 in the shape curators need: language, then optional script, region and variants
# ("vi", "vi-Hani", "lzh", "zh-Hant-TW"), at most 35 characters (RFC 5646 §4.4.1).
LANGUAGE_TAG = re.compile(
    r"^[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|\d{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*\Z"
)
MAX_TAG = 35
MAX_TITLE = 500
# "[tag] value": the bracket holds what a curator meant as a tag (no spaces, starts with
# a letter); "[s.n.]" or "[1850?]", as cataloguers write them, are values.
_TAGGED = re.compile(r"^\[([A-Za-z][A-Za-z0-9_-]*)\]\s*(.+)$")
BAD_TAG = (
    "A language tag looks like vi, vi-Hani, lzh or zh-Hant: letters and hyphens, "
    "at most 35 characters."
)
UNTAGGED_TITLE = "Start each title with its language tag in brackets, such as [lzh] or [vi-Hani]."
TWICE = "Give each language only one title here."
OWN_FIELD = "Give the Vietnamese and English titles in their own fields."
TITLE_TOO_LONG = "A title may have at most 500 characters."


def is_language_tag(tag: str) -> bool:
    """Whether ``tag`` has the shape of a BCP 47 tag we accept (bounded in length)."""
    return len(tag) <= MAX_TAG and LANGUAGE_TAG.match(tag) is not None


def normalise_tag(tag: str) -> str:
    """The tag in its usual case: language lower, Script title, REGION upper ("vi-Hani")."""
    parts = tag.split("-")
    shaped = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            shaped.append(part.title())
        elif len(part) == 2 and part.isalpha():
            shaped.append(part.upper())
        else:
            shaped.append(part.lower())
    return "-".join(shaped)


def _split_tag(line: str) -> tuple[str, str]:
    """("lzh", "斷腸新聲") from "[lzh] 斷腸新聲"; ("", line) when it starts with no tag."""
    tagged = _TAGGED.match(line)
    if not tagged:
        return "", line
    if tagged.group(1).lower() == "none":  # IIIF's "no language", as curators may type it
        return "none", tagged.group(2).strip()
    if not is_language_tag(tagged.group(1)):
        raise ValueError(BAD_TAG)
    return normalise_tag(tagged.group(1)), tagged.group(2).strip()


def parse_values(text: str) -> list[dict[str, str]]:
    """One value per line; a line may start with a language tag: "[lzh] 斷腸新聲".

    Raises ValueError (its message for the curator) for a tag of the wrong shape."""
    values = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        lang, value = _split_tag(line)
        values.append({"value": value[:2000], "lang": lang})
    return values


def format_values(values: list[dict[str, str]]) -> str:
    return "\n".join(f"[{v['lang']}] {v['value']}" if v.get("lang") else v["value"] for v in values)


FORM_TITLES = ("vi", "en")  # the languages whose titles have fields of their own


def parse_titles(text: str) -> dict[str, str]:
    """Titles in other languages and scripts, one a line: "[vi-Hani] …", "[lzh] 大越史記全書".

    Raises ValueError (its message for the curator) for a line without a tag, a tag of the
    wrong shape, a language given twice, or vi or en (they have their own fields)."""
    titles: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        lang, title = _split_tag(line)
        if not lang:
            raise ValueError(UNTAGGED_TITLE)
        if lang in FORM_TITLES:
            raise ValueError(OWN_FIELD)
        if lang in titles:
            raise ValueError(TWICE)
        if len(title) > MAX_TITLE:
            raise ValueError(TITLE_TOO_LONG)
        titles[lang] = title
    return titles


def format_titles(title: dict[str, str]) -> str:
    """The titles that have no field of their own, as the lines a curator edits."""
    return "\n".join(f"[{lang}] {text}" for lang, text in title.items() if lang not in FORM_TITLES)


# Names of the languages curators tag most, for readers: never a bare code on a page.
LANGUAGE_NAMES: dict[str, dict[str, str]] = {
    "vi": {"vi": "Tiếng Việt (chữ Quốc ngữ)", "en": "Vietnamese (Quốc ngữ)"},
    "vi-Latn": {"vi": "Tiếng Việt (chữ Quốc ngữ)", "en": "Vietnamese (Quốc ngữ)"},
    "vi-Hani": {"vi": "Chữ Nôm", "en": "Vietnamese in chữ Nôm"},
    "lzh": {"vi": "Hán văn", "en": "Classical Chinese (Hán)"},
    "zh": {"vi": "Tiếng Trung", "en": "Chinese"},
    "zh-Hant": {"vi": "Tiếng Trung (phồn thể)", "en": "Chinese (traditional)"},
    "zh-Hans": {"vi": "Tiếng Trung (giản thể)", "en": "Chinese (simplified)"},
    "en": {"vi": "Tiếng Anh", "en": "English"},
    "fr": {"vi": "Tiếng Pháp", "en": "French"},
    "ja": {"vi": "Tiếng Nhật", "en": "Japanese"},
    "ko": {"vi": "Tiếng Hàn", "en": "Korean"},
    "la": {"vi": "Tiếng La-tinh", "en": "Latin"},
    "pi": {"vi": "Tiếng Pali", "en": "Pali"},
    "sa": {"vi": "Tiếng Phạn", "en": "Sanskrit"},
}
_THREE_LETTER = {"vie": "vi", "eng": "en", "fra": "fr", "fre": "fr", "chi": "zh", "zho": "zh"}


def language_name(tag: str, locale: str = "vi") -> str:
    """A reader's name for a language tag with the tag beside it: "Hán văn (lzh)".

    A tag we have no name for is shown as it is; text that is not a tag, as written."""
    text = tag.strip()
    if not is_language_tag(text):
        return text
    shaped = normalise_tag(text)
    names = LANGUAGE_NAMES.get(_THREE_LETTER.get(shaped, shaped))
    if names is None:
        return shaped
    return f"{names.get(locale) or names['en']} ({shaped})"


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
    # "[lzh] 大越史記全書" lines for the titles beyond vi and en; None keeps those there are.
    other_titles: str | None = None


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
    title = _titles(item, description)
    dc = _dc(description.dc)
    before = (item.access, item.embargo_until)
    item.title = title
    item.summary = {k: v for k, v in description.summary.items() if v}
    item.dc = dc
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


def _titles(item: Item, description: ItemDescription) -> dict[str, str]:
    """The form's vi and en titles, then the others: as typed, or as they were."""
    title = {k: v.strip() for k, v in description.title.items() if v and v.strip()}
    if description.other_titles is None:
        others = {k: v for k, v in (item.title or {}).items() if k not in description.title}
    else:
        try:
            others = parse_titles(description.other_titles)
        except ValueError as exc:
            raise Refused(fields={"titles_other": str(exc)}) from None
    return {**title, **{k: v for k, v in others.items() if k not in title}}


def _dc(typed: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    dc = {}
    for name, text in typed.items():
        try:
            values = parse_values(text)
        except ValueError as exc:
            raise Refused(fields={f"dc_{name}": str(exc)}) from None
        if values:
            dc[name] = values
    return dc


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
