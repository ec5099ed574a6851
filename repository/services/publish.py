"""Publish: write the manifest, the policy sidecars and a change event."""

from __future__ import annotations

import json
from dataclasses import dataclass

from manifests import (
    CanvasRecord,
    ManifestRecord,
    MetadataEntry,
    Urls,
    language_map,
    manifest_json,
)

from ..extensions import db
from ..models import Event, Item, utcnow
from ..storage import Storage
from .access import effective_level

DC_LABELS = {
    "creator": {"vi": "Tác giả", "en": "Creator"},
    "date": {"vi": "Niên đại", "en": "Date"},
    "subject": {"vi": "Chủ đề", "en": "Subject"},
    "language": {"vi": "Ngôn ngữ", "en": "Language"},
    "identifier": {"vi": "Ký hiệu", "en": "Call number"},
}


@dataclass(frozen=True, slots=True)
class PublishResult:
    item_id: str
    manifest_key: str
    activity: str


def manifest_key(item_id: str) -> str:
    return f"manifests/{item_id}.json"


def policy_key(image_id: str) -> str:
    return f"policies/{image_id}.json"


def manifest_record(item: Item) -> ManifestRecord:
    """Everything the pure builder needs, taken from the database records."""
    metadata = []
    for field_name, label in DC_LABELS.items():
        for entry in item.dc.get(field_name, []):
            lang = entry.get("lang") or "none"
            metadata.append(MetadataEntry(language_map(label), {lang: [entry["value"]]}))
    return ManifestRecord(
        item_id=item.id,
        label=language_map(item.title),
        summary=language_map(item.summary) if any(item.summary.values()) else None,
        metadata=tuple(metadata),
        viewing_direction=item.viewing_direction,
        canvases=tuple(
            CanvasRecord(
                image.id, {"none": [image.label or str(image.position)]}, image.width, image.height
            )
            for image in item.images
        ),
    )


def render_manifest(item: Item, urls: Urls) -> bytes:
    return json.dumps(manifest_json(manifest_record(item), urls), ensure_ascii=False).encode()


def publish_item(item: Item, storage: Storage, urls: Urls) -> PublishResult:
    """Make an item public: its manifest and sidecars are written before the row says so."""
    activity = "Update" if item.published_at else "Create"
    key = manifest_key(item.id)
    storage.put_bytes(key, render_manifest(item, urls))
    level = effective_level(item).value
    for image in item.images:
        policy = {"item": item.id, "access": level}
        storage.put_bytes(policy_key(image.id), json.dumps(policy).encode())
    item.status = "published"
    item.published_at = utcnow()
    db.session.add(Event(activity=activity, object_type="Manifest", object_id=item.id))
    db.session.commit()
    return PublishResult(item.id, key, activity)
