"""Ingest: sniff → validate → master → pyramid → record, for a whole item at once.

Nothing becomes visible until every page has succeeded: pages are prepared in a
staging folder, objects are stored, and only then are rows committed. Any failure
removes what was stored and leaves no rows.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyvips
from natsort import natsort_keygen, ns

from image_server.pyramids import PyramidSettings, build_pyramid

from ..extensions import db
from ..models import Collection, Image, Item, new_id
from ..storage import Storage

log = logging.getLogger(__name__)

# Loaders for the types ingest accepts; every other libvips loader stays blocked.
INGEST_LOADERS = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadTiff",
    "VipsForeignLoadWebp",
)
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_natural = natsort_keygen(alg=ns.IGNORECASE)


def restrict_vips_loaders() -> None:
    """Untrusted files may only reach the loaders of the types we accept."""
    pyvips.operation_block_set("VipsForeignLoad", True)
    for loader in INGEST_LOADERS:
        pyvips.operation_block_set(loader, False)


class IngestError(Exception):
    """The item was refused; ``reasons`` has one plain line per problem."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class PageRejected(Exception):
    pass


@dataclass(frozen=True, slots=True)
class PageFile:
    path: Path
    name: str  # what the curator called it: becomes the default page label


@dataclass(frozen=True, slots=True)
class ItemDraft:
    collection_slug: str
    title: dict[str, str]
    pages: tuple[PageFile, ...]
    summary: dict[str, str] = field(default_factory=dict)
    viewing_direction: str = "left-to-right"
    access: str | None = None  # None: the collection's default


@dataclass(frozen=True, slots=True)
class IngestSettings:
    max_file_bytes: int
    max_pixels: int
    pyramid: PyramidSettings
    staging_dir: Path


@dataclass(frozen=True, slots=True)
class PreparedPage:
    page: PageFile
    media_type: str
    extension: str
    width: int
    height: int
    byte_size: int
    sha256: str
    pyramid: Path
    derivative_sha256: str


def sniff(head: bytes) -> tuple[str, str] | None:
    """The media type and extension from a file's first bytes, or None if not accepted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image/tiff", "tif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def page_label(name: str) -> str:
    """The file name without its extension, in NFC so Vietnamese compares equal."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return unicodedata.normalize("NFC", stem)


def natural_order(pages: Iterable[PageFile]) -> tuple[PageFile, ...]:
    """Pages sorted as people number them: 2 before 10, case ignored."""
    return tuple(sorted(pages, key=lambda p: _natural(p.name)))


def pages_in_folder(folder: Path) -> tuple[PageFile, ...]:
    """Every non-hidden file in a folder, in natural order; sub-folders are not pages.

    A broken link is kept, so that it is reported as unreadable rather than skipped.
    """
    return natural_order(
        PageFile(p, unicodedata.normalize("NFC", p.name))
        for p in folder.iterdir()
        if not p.is_dir() and not p.name.startswith(".") and p.name.lower() not in IGNORED_NAMES
    )


def prepare_page(page: PageFile, settings: IngestSettings, staging: Path) -> PreparedPage:
    """Check one file and build its pyramid in the staging folder."""
    try:
        size = page.path.stat().st_size
        with open(page.path, "rb") as stream:
            head = stream.read(16)
    except OSError as exc:
        raise PageRejected(f"cannot be read ({exc.strerror or exc})") from exc
    if size == 0:
        raise PageRejected("is empty")
    if size > settings.max_file_bytes:
        raise PageRejected(f"is {size:,} bytes; the limit is {settings.max_file_bytes:,}")
    kind = sniff(head)
    if kind is None:
        raise PageRejected("is not a JPEG, PNG, TIFF or WebP image")
    try:
        header = pyvips.Image.new_from_file(str(page.path), access="sequential")
    except pyvips.Error as exc:
        raise PageRejected("is damaged or not a readable image") from exc
    pixels = header.width * header.height
    if pixels > settings.max_pixels:
        raise PageRejected(
            f"is {header.width}x{header.height} pixels; the limit is {settings.max_pixels:,}"
        )
    pyramid = staging / f"{new_id()}.tif"
    try:
        width, height = build_pyramid(page.path, pyramid, settings.pyramid)
    except pyvips.Error as exc:
        raise PageRejected("is damaged or truncated and cannot be decoded") from exc
    return PreparedPage(
        page=page,
        media_type=kind[0],
        extension=kind[1],
        width=width,
        height=height,
        byte_size=size,
        sha256=sha256_file(page.path),
        pyramid=pyramid,
        derivative_sha256=sha256_file(pyramid),
    )


Progress = Callable[[PageFile], None]


def prepare_pages(
    pages: Iterable[PageFile],
    settings: IngestSettings,
    staging: Path,
    progress: Progress | None = None,
) -> list[PreparedPage]:
    prepared, reasons = [], []
    for page in pages:
        try:
            prepared.append(prepare_page(page, settings, staging))
        except PageRejected as exc:
            reasons.append(f"{page.name}: {exc}")
        if progress:
            progress(page)
    if reasons:
        raise IngestError(reasons)
    return prepared


def ingest_item(
    draft: ItemDraft, storage: Storage, settings: IngestSettings, progress: Progress | None = None
) -> Item:
    """Create one draft item from its page files, atomically."""
    collection = db.session.execute(
        db.select(Collection).filter_by(slug=draft.collection_slug)
    ).scalar_one_or_none()
    if collection is None:
        raise IngestError([f"no collection has the slug {draft.collection_slug!r}"])
    if not draft.pages:
        raise IngestError(["there are no page images to ingest"])
    settings.staging_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.staging_dir, prefix="ingest-") as tmp:
        prepared = prepare_pages(draft.pages, settings, Path(tmp), progress)
        return _store(draft, collection, prepared, storage)


def _store(
    draft: ItemDraft, collection: Collection, prepared: list[PreparedPage], storage: Storage
) -> Item:
    item = Item(
        id=new_id(),
        collection=collection,
        title=draft.title,
        summary=draft.summary,
        viewing_direction=draft.viewing_direction,
        access=draft.access or collection.default_access,
        status="draft",
    )
    written: list[str] = []
    try:
        for position, page in enumerate(prepared, start=1):
            image_id = new_id()
            master_key = f"masters/{item.id}/{image_id}.{page.extension}"
            pyramid_key = f"pyramids/{image_id}.tif"
            storage.put_file(master_key, page.page.path)
            written.append(master_key)
            storage.put_file(pyramid_key, page.pyramid)
            written.append(pyramid_key)
            item.images.append(
                Image(
                    id=image_id,
                    position=position,
                    label=page_label(page.page.name),
                    original_name=page.page.name[:255],
                    media_type=page.media_type,
                    width=page.width,
                    height=page.height,
                    byte_size=page.byte_size,
                    sha256=page.sha256,
                    derivative_sha256=page.derivative_sha256,
                    master_key=master_key,
                    pyramid_key=pyramid_key,
                )
            )
        db.session.add(item)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        for key in written:
            try:
                storage.delete(key)
            except Exception:  # keep cleaning; report the first error
                log.exception("could not remove %s after a failed ingest", key)
        raise
    return item
