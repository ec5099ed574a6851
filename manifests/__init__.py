"""Pure IIIF Presentation building: records in, JSON out. No Flask, no database."""

from .builder import build_manifest, manifest_json
from .records import CanvasRecord, LanguageMap, ManifestRecord, MetadataEntry, Urls, language_map

__all__ = [
    "CanvasRecord",
    "LanguageMap",
    "ManifestRecord",
    "MetadataEntry",
    "Urls",
    "build_manifest",
    "language_map",
    "manifest_json",
]
