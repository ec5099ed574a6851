"""Pure IIIF Presentation building: records in, JSON out. No Flask, no database."""

from .builder import build_collection, build_manifest, collection_json, manifest_json
from .records import (
    Agent,
    CanvasRecord,
    CollectionRecord,
    LanguageMap,
    Link,
    ManifestRecord,
    ManifestSummary,
    MetadataEntry,
    RangeRecord,
    Urls,
    language_map,
)
from .v2 import collection_v2, manifest_v2

__all__ = [
    "Agent",
    "CanvasRecord",
    "CollectionRecord",
    "LanguageMap",
    "Link",
    "ManifestRecord",
    "ManifestSummary",
    "MetadataEntry",
    "RangeRecord",
    "Urls",
    "build_collection",
    "build_manifest",
    "collection_json",
    "collection_v2",
    "language_map",
    "manifest_json",
    "manifest_v2",
]
