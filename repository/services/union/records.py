"""Union catalogue records: checked drafts, and saving them as metadata-only items.

Every importer (open-data CSV, MARC 21, remote manifests, OAI-PMH harvests) turns what
it reads into ``RecordDraft``s; ``save_drafts`` makes or updates their items in one
transaction, and publishes them when asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...extensions import db
from ...models import Collection, Item
from ...storage import Storage
from ..cleaning import clean_text
from ..errors import Refused, TooLarge
from ..publish import PublishSettings, publish_item

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_RECORDS = 100_000
MAX_VALUES = 100  # values of one element in one record


@dataclass(frozen=True, slots=True)
class RecordDraft:
    """One catalogue record, checked and cleaned, ready to become an item."""

    title: dict[str, str]
    summary: dict[str, str] = field(default_factory=dict)
    dc: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    year_start: int | None = None
    year_end: int | None = None
    source_url: str = ""
    remote_manifest: str = ""
    rights: str = ""


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    skipped: int = 0
    published: int = 0
    problems: tuple[str, ...] = ()
    item_ids: tuple[str, ...] = ()


Progress = Callable[[str, int], None]  # (phase: "read" or "publish", how many more)


def add_value(dc: dict[str, list[dict[str, str]]], element: str, value: object, lang: str) -> None:
    """Append one cleaned value, skipping empties, repeats and values past the cap."""
    text = clean_text(value)
    if not text:
        return
    values = dc.setdefault(element, [])
    entry = {"value": text, "lang": lang}
    if entry not in values and len(values) < MAX_VALUES:
        values.append(entry)


def apply_draft(item: Item, draft: RecordDraft, institution: str) -> None:
    """Describe the item as the draft says; it stays open and without pages of ours."""
    item.title = dict(draft.title)
    item.summary = dict(draft.summary)
    item.dc = {element: list(values) for element, values in draft.dc.items()}
    item.year_start, item.year_end = draft.year_start, draft.year_end
    item.source_url = draft.source_url
    item.remote_manifest = draft.remote_manifest
    item.rights = draft.rights if len(draft.rights) <= 255 else ""  # the column holds a URI
    item.source_institution = clean_text(institution, 255)
    item.access = "open"


def publisher(
    storage: Storage | None, settings: PublishSettings | None
) -> tuple[Storage, PublishSettings]:
    """What publishing needs; the caller (a command or a view) passes both."""
    if storage is None or settings is None:
        raise TypeError("publishing needs the storage and the publish settings")
    return storage, settings


def save_drafts(
    drafts: list[RecordDraft],
    collection: Collection,
    institution: str,
    publish: bool,
    storage: Storage | None,
    settings: PublishSettings | None,
    progress: Progress | None,
) -> tuple[int, int, int, list[str]]:
    """All drafts in one transaction; a record already here (same source URL or
    manifest in this collection) is updated rather than made twice."""
    target = publisher(storage, settings) if publish else None  # before anything is saved
    try:
        db.session.add(collection)
        db.session.flush()
        known: dict[str, Item] = {}
        for item in db.session.execute(
            db.select(Item).where(
                Item.collection_id == collection.id,
                (Item.source_url != "") | (Item.remote_manifest != ""),
            )
        ).scalars():
            for key in (item.source_url, item.remote_manifest):
                if key:
                    known.setdefault(key, item)
        created = updated = 0
        items: dict[int, Item] = {}  # by identity, in file order: a repeat updates
        for draft in drafts:
            key = draft.source_url or draft.remote_manifest
            item = known.get(key) if key else None
            if item is None:
                item = Item(collection_id=collection.id, status="draft")
                db.session.add(item)
                created += 1
            else:
                updated += 1
            apply_draft(item, draft, institution)
            if key:
                known[key] = item
            items.setdefault(id(item), item)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    ids = [item.id for item in items.values()]
    published = 0
    if target is not None:
        for item in items.values():
            publish_item(item, *target)
            published += 1
            if progress:
                progress("publish", 1)
    return created, updated, published, ids


def check_file_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise Refused(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if size > MAX_FILE_BYTES:
        raise TooLarge(f"{path.name}: larger than {MAX_FILE_BYTES // 2**20} MB")
