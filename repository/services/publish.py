"""Publish: write the manifests, the policy sidecars and a change event.

Manifests are built here, once per publish or change, and stored (3.0 and 2.1, each as
JSON and gzip), so that serving one is a read. Every id in them is made from the public
base URLs, so the base URLs they were written for are stored beside them
(`manifests/_base.json`): a site served at another address rewrites them first.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from image_server.auth import auth1_services, auth2_services
from image_server.policy import Policy, item_policy_key, policy_key
from manifests import (
    Agent,
    CanvasRecord,
    Link,
    ManifestRecord,
    MetadataEntry,
    RangeRecord,
    Urls,
    language_map,
    manifest_json,
    manifest_v2,
)

from ..extensions import db
from ..models import Event, Image, Item, utcnow
from ..search import SearchBackend, SearchDocument
from ..storage import Storage
from .access import (
    Access,
    image_policy,
    item_policy,
    search_visibility,
    text_is_public,
)

# Dublin Core elements in the order a reader expects them, with bilingual labels.
DC_LABELS = {
    "creator": {"vi": "Tác giả", "en": "Creator"},
    "contributor": {"vi": "Người đóng góp", "en": "Contributor"},
    "date": {"vi": "Niên đại", "en": "Date"},
    "publisher": {"vi": "Nơi xuất bản", "en": "Publisher"},
    "subject": {"vi": "Chủ đề", "en": "Subject"},
    "description": {"vi": "Mô tả", "en": "Description"},
    "type": {"vi": "Loại hình", "en": "Type"},
    "format": {"vi": "Định dạng", "en": "Format"},
    "language": {"vi": "Ngôn ngữ", "en": "Language"},
    "identifier": {"vi": "Ký hiệu", "en": "Call number"},
    "source": {"vi": "Nguồn", "en": "Source"},
    "relation": {"vi": "Liên quan", "en": "Relation"},
    "coverage": {"vi": "Phạm vi", "en": "Coverage"},
    "rights": {"vi": "Bản quyền", "en": "Rights"},
}


@dataclass(frozen=True, slots=True)
class PublishSettings:
    urls: Urls
    library: Agent
    attribution: dict[str, str]
    default_rights: str
    degraded_edge: int = 1200
    search: SearchBackend | None = None  # the index publishing keeps up to date


@dataclass(frozen=True, slots=True)
class PublishResult:
    item_id: str
    manifest_key: str
    activity: str


def manifest_key(item_id: str, version: int = 3, gzipped: bool = False) -> str:
    suffix = ".json.gz" if gzipped else ".json"
    return f"manifests/{item_id}{'.v2' if version == 2 else ''}{suffix}"


# Beside the manifests, never one of them: item ids have no underscore.
MANIFEST_BASE_KEY = "manifests/_base.json"


def _metadata(item: Item) -> tuple[MetadataEntry, ...]:
    """Dublin Core values, each keeping its language tag ('none' when unknown)."""
    entries = []
    for element, label in DC_LABELS.items():
        values: dict[str, list[str]] = {}
        for entry in item.dc.get(element, []):
            values.setdefault(entry.get("lang") or "none", []).append(str(entry["value"]))
        if values:
            entries.append(MetadataEntry(language_map(label), values))
    return tuple(entries)


def _ranges(
    entries: list[dict[str, Any]], known: set[str], prefix: str = "r"
) -> tuple[RangeRecord, ...]:
    ranges = []
    for number, entry in enumerate(entries, start=1):
        range_id = f"{prefix}{number}"
        ranges.append(
            RangeRecord(
                id=range_id,
                label=language_map(entry.get("label") or {}),
                canvases=tuple(p for p in entry.get("pages", []) if p in known),
                children=_ranges(entry.get("children", []), known, f"{range_id}-"),
            )
        )
    return tuple(ranges)


def has_text(image: Image) -> bool:
    """Whether the page's words have been recognised."""
    return image.page_text is not None and image.page_text.status == "done"


def _canvas(image: Image, urls: Urls, policy: Policy | None) -> CanvasRecord:
    auth1: tuple[dict[str, object], ...] = ()
    auth2: tuple[dict[str, object], ...] = ()
    if policy is not None:  # not open: declare the IIIF Auth services, as info.json does
        auth1 = tuple(auth1_services(urls.base, policy))
        auth2 = tuple(auth2_services(urls.base, urls.image_service(image.id)))
    label = {"none": [image.label or str(image.position)]}
    return CanvasRecord(
        image.id, label, image.width, image.height, auth2, auth1, text=has_text(image)
    )


def _auth_policy(item: Item) -> Policy | None:
    """The policy the image server will enforce, when the item is not open to everyone.

    Judged as of the embargo's end: the stored manifest outlives the embargo."""
    policy = item_policy(item)
    return None if policy.public is Access.FULL else policy


def manifest_record(item: Item, settings: PublishSettings) -> ManifestRecord:
    """Everything the pure builders need, taken from the database records."""
    urls = settings.urls
    base = urls.item_page(item.id)
    policy = _auth_policy(item)
    known = {image.id for image in item.images}
    rendering: tuple[Link, ...] = ()
    if policy is None and item.images:  # open to all: a PDF anyone may download
        rendering = (
            Link(
                f"{base}/download.pdf",
                "Text",
                "application/pdf",
                {"vi": ["Tải về bản PDF"], "en": ["Download as PDF"]},
            ),
        )
    return ManifestRecord(
        item_id=item.id,
        label=language_map(item.title),
        summary=language_map(item.summary) if any(item.summary.values()) else None,
        metadata=_metadata(item),
        viewing_direction=item.viewing_direction,
        behavior=(item.behavior,) if item.behavior else (),
        rights=item.rights or settings.default_rights or None,
        required_statement=MetadataEntry(
            {"vi": ["Ghi nguồn"], "en": ["Attribution"]}, language_map(settings.attribution)
        ),
        provider=settings.library,
        nav_date=f"{item.year_start:04d}-01-01T00:00:00Z" if item.year_start else None,
        start_image_id=item.start_image_id if item.start_image_id in known else None,
        structures=_ranges(item.toc or [], known),
        see_also=(
            Link(
                f"{base}/record.json",
                "Dataset",
                "application/json",
                {"en": ["Dublin Core record"], "vi": ["Biểu ghi Dublin Core"]},
            ),
        ),
        rendering=rendering,
        canvases=tuple(_canvas(image, urls, policy) for image in item.images),
        services=search_services(urls, item.id) if any(map(has_text, item.images)) else (),
        part_of=(item.collection.slug,) if item.collection else (),
    )


def search_services(urls: Urls, item_id: str) -> tuple[dict[str, object], ...]:
    """Content Search 2.0, and 1.0 for Mirador 4 and other older viewers."""
    return (
        {
            "id": urls.search(item_id),
            "type": "SearchService2",
            "service": [{"id": urls.autocomplete(item_id), "type": "AutoCompleteService2"}],
        },
        {
            "@id": urls.search(item_id, 1),
            "@type": "SearchService1",
            "profile": "http://iiif.io/api/search/1/search",
            "service": {
                "@id": urls.autocomplete(item_id, 1),
                "@type": "AutoCompleteService1",
                "profile": "http://iiif.io/api/search/1/autocomplete",
            },
        },
    )


def render_manifests(item: Item, settings: PublishSettings) -> tuple[bytes, bytes]:
    """The 3.0 and 2.1 manifests as compact UTF-8 JSON (a tenth smaller than with spaces,
    on every request that does not take gzip)."""
    record = manifest_record(item, settings)
    compact = (",", ":")
    v3 = json.dumps(manifest_json(record, settings.urls), ensure_ascii=False, separators=compact)
    v2 = json.dumps(manifest_v2(record, settings.urls), ensure_ascii=False, separators=compact)
    return v3.encode(), v2.encode()


def write_manifests(item: Item, storage: Storage, settings: PublishSettings) -> None:
    v3, v2 = render_manifests(item, settings)
    for version, body in ((3, v3), (2, v2)):
        storage.put_bytes(manifest_key(item.id, version), body)
        storage.put_bytes(
            manifest_key(item.id, version, gzipped=True), gzip.compress(body, 6, mtime=0)
        )
    if stored_base(storage) is None:  # the first manifests: they set the base
        mark_base(storage, settings.urls)


def base_of(urls: Urls) -> dict[str, str]:
    return {"public_url": urls.base, "image_url": urls.image_url.rstrip("/")}


def stored_base(storage: Storage) -> dict[str, str] | None:
    """The base URLs every stored manifest was written for; None before the first."""
    try:
        marker: dict[str, str] = json.loads(storage.get_bytes(MANIFEST_BASE_KEY))
    except KeyError:
        return None
    return marker


def mark_base(storage: Storage, urls: Urls) -> None:
    """Say that every stored manifest now has ids made from these base URLs."""
    storage.put_bytes(MANIFEST_BASE_KEY, json.dumps(base_of(urls)).encode())


def base_state(storage: Storage, urls: Urls) -> str:
    """ "ok", or "base-url-mismatch" when stored manifests name other base URLs."""
    stored = stored_base(storage)
    return "ok" if stored in (None, base_of(urls)) else "base-url-mismatch"


def follow_base(storage: Storage, settings: PublishSettings) -> tuple[int, str | None] | None:
    """Rewrite every published item's manifests when they were written for other base
    URLs than settings.urls, or for unrecorded ones (before the record was kept): the
    number of items and the public URL they had; None when they already fit."""
    stored = stored_base(storage)
    if stored == base_of(settings.urls):
        return None
    if stored is None:
        anything = db.select(Item.id).filter_by(status="published").limit(1)
        if db.session.execute(anything).first() is None:
            return None  # nothing written yet
    return republish_manifests(storage, settings), (stored or {}).get("public_url")


def republish_manifests(storage: Storage, settings: PublishSettings) -> int:
    """Rewrite every published item's manifests for settings.urls, then mark the base;
    the number of items. No change events: what the items say has not changed."""
    ids = published_ids()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for item in db.session.execute(db.select(Item).where(Item.id.in_(chunk))).scalars():
            if item.images:
                write_manifests(item, storage, settings)
        db.session.expunge_all()
    mark_base(storage, settings.urls)
    return len(ids)


def write_policies(item: Item, storage: Storage, settings: PublishSettings) -> None:
    """The sidecar the image server enforces, for each of the item's images, and the
    item's own, by which the repository serves its stored manifest with no query."""
    for image in item.images:
        policy = image_policy(item, image, settings.degraded_edge)
        storage.put_bytes(policy_key(image.id), json.dumps(policy.to_json()).encode())
    policy = item_policy(item, settings.degraded_edge)
    storage.put_bytes(item_policy_key(item.id), json.dumps(policy.to_json()).encode())


def refresh_policies(items: Iterable[Item], storage: Storage, settings: PublishSettings) -> int:
    """Rewrite the sidecars of these items' images at once, after a change of access or of
    a collection's reader groups; the number of items."""
    count = 0
    for item in items:
        write_policies(item, storage, settings)
        count += 1
    return count


def collection_items(collection_id: int) -> list[Item]:
    """Every item of a collection whose sidecars have been written (published or withdrawn)."""
    return list(
        db.session.execute(
            db.select(Item).where(Item.collection_id == collection_id, Item.status != "draft")
        ).scalars()
    )


def publish_item(item: Item, storage: Storage, settings: PublishSettings) -> PublishResult:
    """Make an item public: its manifests and sidecars are written before the row says so."""
    activity = "Update" if item.published_at else "Create"
    # The files describe the item as published; the row says so only once they exist.
    item.status = "published"
    try:
        if item.images:  # a catalogue record without pages here has no manifest of ours
            write_manifests(item, storage, settings)
        write_policies(item, storage, settings)
    except BaseException:
        db.session.rollback()
        raise
    item.published_at = utcnow()
    db.session.add(Event(activity=activity, object_type="Manifest", object_id=item.id))
    db.session.commit()
    if settings.search is not None:
        settings.search.index([search_document(item)])
    return PublishResult(item.id, manifest_key(item.id), activity)


def search_document(item: Item) -> SearchDocument:
    """What search finds an item by: every title, summary and Dublin Core value."""
    values = [*item.summary.values()]
    for entries in item.dc.values():
        values += [str(entry.get("value", "")) for entry in entries]
    values += [image.label for image in item.images]

    def dc_values(element: str) -> tuple[str, ...]:
        return tuple(str(e.get("value", "")).strip() for e in item.dc.get(element, []))

    visibility = search_visibility(item)
    # The words on the pages are as open as the pages: only images everyone may read
    # in full lend their text to the public index.
    ocr = ""
    if text_is_public(item):
        ocr = "\n".join(
            image.page_text.text
            for image in item.images
            if image.page_text is not None and has_text(image)
        )
    return SearchDocument(
        item.id,
        " ".join(t for t in item.title.values() if t),
        " \n".join(v for v in values if v),
        ocr=ocr,
        collection=item.collection.slug if item.collection else "",
        languages=dc_values("language"),
        types=dc_values("type"),
        year_start=item.year_start,
        year_end=item.year_end,
        hidden=visibility.hidden,
        embargo_until=visibility.embargo_until,
    )


def published_ids() -> list[str]:
    return list(
        db.session.execute(
            db.select(Item.id).filter_by(status="published").order_by(Item.id)
        ).scalars()
    )


def search_batches(ids: Sequence[str], size: int = 500) -> Iterator[list[SearchDocument]]:
    """Search documents for these items, loaded a batch at a time, for a rebuild."""
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        items = db.session.execute(db.select(Item).where(Item.id.in_(chunk))).scalars()
        yield [search_document(item) for item in items]


def withdraw_item(item: Item, storage: Storage, settings: PublishSettings) -> None:
    """Take an item down: it becomes a 404 everywhere, and a Delete event says so."""
    item.status = "withdrawn"
    for key in (
        manifest_key(item.id),
        manifest_key(item.id, gzipped=True),
        manifest_key(item.id, 2),
        manifest_key(item.id, 2, gzipped=True),
    ):
        storage.delete(key)
    write_policies(item, storage, settings)  # now 'hidden': the image server answers 404
    db.session.add(Event(activity="Delete", object_type="Manifest", object_id=item.id))
    db.session.commit()
    if settings.search is not None:
        settings.search.remove(item.id)
