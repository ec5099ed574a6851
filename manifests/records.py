"""Plain records the builder works from: the repository fills them from its database."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

LanguageMap = dict[str, list[str]]


def language_map(values: dict[str, str] | None) -> LanguageMap:
    """{"vi": "Truyện Kiều"} -> {"vi": ["Truyện Kiều"]}, dropping empty values; never empty."""
    cleaned = {lang: [text] for lang, text in (values or {}).items() if text and text.strip()}
    return cleaned or {"none": [""]}


@dataclass(frozen=True, slots=True)
class MetadataEntry:
    label: LanguageMap
    value: LanguageMap


@dataclass(frozen=True, slots=True)
class CanvasRecord:
    image_id: str
    label: LanguageMap
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    item_id: str
    label: LanguageMap
    canvases: tuple[CanvasRecord, ...]
    summary: LanguageMap | None = None
    metadata: tuple[MetadataEntry, ...] = ()
    viewing_direction: str = "left-to-right"
    rights: str | None = None
    required_statement: MetadataEntry | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Urls:
    """Public base URLs, so every id works behind a proxy."""

    public_url: str
    image_url: str

    def manifest(self, item_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/iiif/{quote(item_id, safe='')}/manifest"

    def canvas(self, item_id: str, image_id: str) -> str:
        base = self.public_url.rstrip("/")
        return f"{base}/iiif/{quote(item_id, safe='')}/canvas/{quote(image_id, safe='')}"

    def item_page(self, item_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/items/{quote(item_id, safe='')}"

    def image_service(self, image_id: str, version: int = 3) -> str:
        return f"{self.image_url.rstrip('/')}/iiif/{version}/{quote(image_id, safe='')}"
