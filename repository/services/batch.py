"""Batch ingest: folders, single files, or a CSV listing items with their metadata.

A CSV has one row per item. Columns (a header row is required):
- ``path``: a folder of page images, or one file (PDF, multi-page TIFF, image),
  relative to the CSV's folder;
- ``title`` (Vietnamese) and optional ``title_en``, ``summary``, ``summary_en``;
- optional ``collection``, ``access`` (open, degraded, restricted, onsite, staff) and
  ``direction`` (left-to-right, right-to-left, top-to-bottom);
- any Dublin Core element (creator, date, subject, description, type, format, source,
  rights, relation, coverage, language, identifier, publisher, contributor), with
  several values split by ``|`` and an optional language tag: ``subject@vi``,
  ``title@lzh``.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import Refused
from .ingest import ItemDraft, PageFile, pages_in_folder, skipped_in_folder

ACCESS_LEVELS = ("open", "degraded", "restricted", "onsite", "staff")
DIRECTIONS = ("left-to-right", "right-to-left", "top-to-bottom")
DC_ELEMENTS = (
    "contributor",
    "coverage",
    "creator",
    "date",
    "description",
    "format",
    "identifier",
    "language",
    "publisher",
    "relation",
    "rights",
    "source",
    "subject",
    "type",
)
_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
MAX_ROWS = 100_000
MAX_CELL = 10_000


@dataclass(frozen=True, slots=True)
class BatchItem:
    where: str  # "items.csv line 4" or the path given on the command line
    collection_slug: str
    draft: ItemDraft
    skipped: tuple[str, ...] = ()  # entries of its folder that are not pages, and why


def files_of(source: Path) -> tuple[PageFile, ...]:
    """The page files of a source: a folder's files in natural order, or the file itself."""
    if source.is_dir():
        pages = pages_in_folder(source)
        if not pages:
            raise Refused("no page images in this folder")
        return pages
    if source.is_file() or source.is_symlink():
        return (PageFile(source, unicodedata.normalize("NFC", source.name)),)
    raise Refused("no such file or folder")


def skipped_of(source: Path) -> tuple[str, ...]:
    """What a source folder holds that is not a page, one line each saying why."""
    return tuple(skipped_in_folder(source)) if source.is_dir() else ()


def _clean(text: str | None) -> str:
    value = unicodedata.normalize("NFC", (text or "").strip())
    if len(value) > MAX_CELL:
        raise Refused(f"a value is longer than {MAX_CELL} characters")
    return value


def dublin_core(row: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    """Dublin Core values from CSV columns like ``creator`` or ``subject@vi``."""
    dc: dict[str, list[dict[str, str]]] = {}
    for column, raw in row.items():
        element, _, lang = (column or "").strip().lower().partition("@")
        if element not in DC_ELEMENTS or not raw:
            continue
        if lang and not _LANG_TAG.match(lang):
            raise Refused(f"column {column!r} has an invalid language tag")
        for value in _clean(raw).split("|"):
            if value.strip():
                dc.setdefault(element, []).append({"value": value.strip(), "lang": lang})
    return dc


def _row_item(
    row: dict[str, str], base: Path, default_collection: str | None, where: str
) -> BatchItem:
    path_text = _clean(row.get("path"))
    title = _clean(row.get("title"))
    if not path_text:
        raise Refused("the path column is empty")
    if not title:
        raise Refused("the title column is empty")
    source = Path(path_text)
    if source.is_absolute() or ".." in source.parts:
        raise Refused("paths must be relative to the CSV's folder and stay inside it")
    access = _clean(row.get("access")) or None
    if access and access not in ACCESS_LEVELS:
        raise Refused(f"access must be one of {', '.join(ACCESS_LEVELS)}")
    direction = _clean(row.get("direction")) or "left-to-right"
    if direction not in DIRECTIONS:
        raise Refused(f"direction must be one of {', '.join(DIRECTIONS)}")
    collection = _clean(row.get("collection")) or default_collection
    if not collection:
        raise Refused("no collection: add a collection column or use --collection")
    draft = ItemDraft(
        collection_slug=collection,
        title={"vi": title, "en": _clean(row.get("title_en"))},
        summary={"vi": _clean(row.get("summary")), "en": _clean(row.get("summary_en"))},
        pages=files_of(base / source),
        viewing_direction=direction,
        access=access,
        dc=dublin_core(row),
    )
    return BatchItem(where, collection, draft, skipped_of(base / source))


def read_csv(path: Path, default_collection: str | None) -> tuple[list[BatchItem], list[str]]:
    """The items a CSV lists, and one message per row that cannot be used."""
    items, problems = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise Refused("the CSV needs a header row with path and title columns")
            for number, row in enumerate(reader, start=2):
                if number > MAX_ROWS + 1:
                    problems.append(f"{path.name}: more than {MAX_ROWS} rows; the rest skipped")
                    break
                where = f"{path.name} line {number}"
                try:
                    items.append(_row_item(row, path.parent, default_collection, where))
                except Refused as exc:
                    problems.append(f"{where}: {exc}")
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Refused(f"{path.name}: not a UTF-8 CSV file ({exc})") from exc
    except OSError as exc:
        raise Refused(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    return items, problems
