"""Ingest: sniff → validate → master → pyramid → record, for a whole item at once.

Nothing becomes visible until every page has succeeded. Pages are prepared in a
staging folder; the storage keys about to be written are recorded as pending and
committed first; objects are stored; then the item's rows are committed and the
pending records removed in one transaction. A failure removes what was stored. A
killed process leaves pending records, and the next ingest removes their objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyvips

from image_server.pyramids import PyramidSettings, write_pyramid

from ..extensions import db
from ..models import Collection, Image, Item, PendingObject, new_id
from ..storage import Storage
from .decoders import DecodeLimits, Kind, PageRejected, SourcePage, read_pages
from .errors import NotFound, Refused, TooLarge
from .page_files import PageFile, page_label, pages_in_folder, sha256_file, skipped_in_folder
from .pending import owner as pending_owner
from .pending import recover_interrupted, remove_objects, staging_folder

# Loaders for the types libvips reads for us; every other libvips loader stays blocked.
INGEST_LOADERS = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadTiff",
    "VipsForeignLoadWebp",
)
# Also what callers of ingest use of the page files, under the names they know.
__all__ = [
    "PageFile",
    "PageRejected",
    "ingest_item",
    "pages_in_folder",
    "sha256_file",
    "skipped_in_folder",
]


def restrict_vips_loaders() -> None:
    """Untrusted files may only reach the loaders of the types we accept."""
    pyvips.operation_block_set("VipsForeignLoad", True)
    for loader in INGEST_LOADERS:
        pyvips.operation_block_set(loader, False)


@dataclass(frozen=True, slots=True)
class ItemDraft:
    collection_slug: str
    title: dict[str, str]
    pages: tuple[PageFile, ...]
    summary: dict[str, str] = field(default_factory=dict)
    viewing_direction: str = "left-to-right"
    access: str | None = None  # None: the collection's default
    dc: dict[str, list[dict[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IngestSettings:
    limits: DecodeLimits
    pyramid: PyramidSettings
    staging_dir: Path


@dataclass(frozen=True, slots=True)
class IngestResult:
    item: Item
    created: bool  # False when the same files were already ingested as this item


class Progress(Protocol):
    def start(self, pages: int) -> None: ...
    def advance(self, label: str) -> None: ...


class NoProgress:
    def start(self, pages: int) -> None:
        pass

    def advance(self, label: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class MasterFile:
    file: PageFile
    kind: Kind
    sha256: str
    byte_size: int
    pages: tuple[SourcePage, ...]
    page_count: int  # what the format's own reader counts: every page must be made


@dataclass(frozen=True, slots=True)
class PreparedPage:
    master: MasterFile
    number: int | None
    label: str
    width: int
    height: int
    pyramid: Path
    derivative_sha256: str


def inspect(files: Iterable[PageFile], limits: DecodeLimits) -> list[MasterFile]:
    """Sniff, hash and read the headers of every file; refuse with one reason per file."""
    masters, reasons = [], []
    for page_file in files:
        try:
            source = read_pages(page_file.path, limits)
            if len(source.pages) != source.page_count:
                raise PageRejected(
                    f"has {source.page_count} pages, but {len(source.pages)} were found in it"
                )
            masters.append(
                MasterFile(
                    page_file,
                    source.kind,
                    sha256_file(page_file.path),
                    page_file.path.stat().st_size,
                    source.pages,
                    source.page_count,
                )
            )
        except PageRejected as exc:
            reasons.append(f"{page_file.name}: {exc}")
        except OSError as exc:
            reasons.append(f"{page_file.name}: cannot be read ({exc.strerror or exc})")
    if reasons:
        raise Refused(reasons=reasons)
    total = sum(len(m.pages) for m in masters)
    if total > limits.max_pages:
        raise TooLarge(reasons=[f"the item has {total} pages; the limit is {limits.max_pages}"])
    return masters


def _label(master: MasterFile, page: SourcePage, single_file: bool) -> str:
    stem = page_label(master.file.name)
    if page.number is None:
        return stem
    return str(page.number) if single_file else f"{stem} – {page.number}"


def build_pages(
    masters: list[MasterFile], settings: IngestSettings, staging: Path, progress: Progress
) -> list[PreparedPage]:
    prepared, reasons = [], []
    single_file = len(masters) == 1
    for master in masters:
        for page in master.pages:
            label = _label(master, page, single_file)
            target = staging / f"{new_id()}.tif"
            try:
                width, height = write_pyramid(page.load(), target, settings.pyramid)
            except pyvips.Error:
                where = f" (page {page.number})" if page.number else ""
                reasons.append(
                    f"{master.file.name}{where}: is damaged or truncated and cannot be decoded"
                )
                break
            prepared.append(
                PreparedPage(master, page.number, label, width, height, target, sha256_file(target))
            )
            progress.advance(label)
    if reasons:
        raise Refused(reasons=reasons)
    check_page_counts(masters, prepared)
    return prepared


def check_page_counts(masters: list[MasterFile], prepared: list[PreparedPage]) -> None:
    """Every page of every file became one page of the item: none lost, none doubled."""
    made: dict[int, list[int | None]] = {id(master): [] for master in masters}
    for page in prepared:
        made.setdefault(id(page.master), []).append(page.number)
    reasons = []
    for master in masters:
        numbers, expected = made[id(master)], master.page_count
        if len(numbers) != expected:
            reasons.append(
                f"{master.file.name}: has {expected} pages, but {len(numbers)} were made"
            )
        elif len(set(numbers)) != expected:
            reasons.append(f"{master.file.name}: some of its pages were made twice, others not")
    if reasons:
        raise Refused(reasons=reasons)


def find_existing(collection: Collection, masters: list[MasterFile]) -> Item | None:
    """An item in this collection made from exactly these files, if any (for resuming)."""
    wanted = {m.sha256 for m in masters}
    candidates = db.session.execute(
        db.select(Image.item_id).where(Image.sha256.in_(wanted)).distinct()
    ).scalars()
    for item_id in candidates:
        item = db.session.get(Item, item_id)
        if (
            item
            and item.collection_id == collection.id
            and {i.sha256 for i in item.images} == wanted
        ):
            return item
    return None


def ingest_item(
    draft: ItemDraft, storage: Storage, settings: IngestSettings, progress: Progress | None = None
) -> IngestResult:
    """Create one draft item from its files, atomically; skip files already ingested."""
    recover_interrupted(storage, settings.staging_dir)
    collection = db.session.execute(
        db.select(Collection).filter_by(slug=draft.collection_slug)
    ).scalar_one_or_none()
    if collection is None:
        raise NotFound(f"no collection has the slug {draft.collection_slug!r}")
    if not draft.pages:
        raise Refused("there are no page images to ingest")
    masters = inspect(draft.pages, settings.limits)
    existing = find_existing(collection, masters)
    if existing is not None:
        return IngestResult(existing, created=False)
    item = draft_item(draft, collection)
    _build_and_store(item, masters, storage, settings, progress or NoProgress())
    return IngestResult(item, created=True)


def draft_item(draft: ItemDraft, collection: Collection) -> Item:
    """A new draft item, not yet in the session: it joins it when its pages are stored."""
    # Linked by id, not by relationship, so that nothing is flushed before then.
    return Item(
        id=new_id(),
        collection_id=collection.id,
        title=draft.title,
        summary=draft.summary,
        dc=draft.dc,
        viewing_direction=draft.viewing_direction,
        access=draft.access or collection.default_access,
        status="draft",
    )


def add_pages(
    item: Item, files: tuple[PageFile, ...], storage: Storage, settings: IngestSettings
) -> list[Image]:
    """Append the pages of some files to an existing item, all of them or none."""
    recover_interrupted(storage, settings.staging_dir)
    if not files:
        raise Refused("there are no page images to add")
    masters = inspect(files, settings.limits)
    return _build_and_store(item, masters, storage, settings, NoProgress())


def _build_and_store(
    item: Item,
    masters: list[MasterFile],
    storage: Storage,
    settings: IngestSettings,
    progress: Progress,
) -> list[Image]:
    """Record the keys as pending, store masters while pyramids are built, then commit.

    Copying (or uploading) the masters overlaps the CPU-bound pyramid building.
    """
    total = sum(len(m.pages) for m in masters)
    progress.start(total)
    master_keys = {m.sha256: f"masters/{item.id}/{new_id()}.{m.kind.extension}" for m in masters}
    pyramid_keys = [f"pyramids/{new_id()}.tif" for _ in range(total)]
    all_keys = [*master_keys.values(), *pyramid_keys]
    owner = pending_owner()
    db.session.add_all(PendingObject(key=key, owner=owner) for key in all_keys)
    db.session.commit()
    try:
        with ThreadPoolExecutor(max_workers=1) as copier:
            copied = copier.submit(_store_masters, masters, master_keys, storage)
            with staging_folder(settings.staging_dir, "ingest") as tmp:
                prepared = build_pages(masters, settings, Path(tmp), progress)
                copied.result()
                for page, pyramid_key in zip(prepared, pyramid_keys, strict=True):
                    storage.put_file(pyramid_key, page.pyramid)
        images = _record(item, prepared, master_keys, pyramid_keys)
        db.session.execute(db.delete(PendingObject).where(PendingObject.key.in_(all_keys)))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        remove_objects(storage, all_keys)
        raise
    return images


def _store_masters(masters: list[MasterFile], keys: dict[str, str], storage: Storage) -> None:
    for master in masters:
        storage.put_file(keys[master.sha256], master.file.path)


def _record(
    item: Item, prepared: list[PreparedPage], master_keys: dict[str, str], pyramid_keys: list[str]
) -> list[Image]:
    first = max((image.position for image in item.images), default=0) + 1
    images = [
        Image(
            id=pyramid_key.removeprefix("pyramids/").removesuffix(".tif"),
            position=position,
            label=page.label[:255],
            original_name=page.master.file.name[:255],
            media_type=page.master.kind.media_type,
            width=page.width,
            height=page.height,
            byte_size=page.master.byte_size,
            sha256=page.master.sha256,
            derivative_sha256=page.derivative_sha256,
            master_key=master_keys[page.master.sha256],
            master_page=page.number,
            pyramid_key=pyramid_key,
        )
        for position, (page, pyramid_key) in enumerate(
            zip(prepared, pyramid_keys, strict=True), first
        )
    ]
    item.images.extend(images)
    db.session.add(item)
    return images
