"""Plain records the builders work from: the repository fills them from its database."""

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
class Agent:
    """The library that provides the item: IIIF `provider`."""

    id: str
    label: LanguageMap
    homepage: str
    logo: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A resource linked from a manifest: seeAlso, rendering, homepage."""

    id: str
    type: str
    format: str
    label: LanguageMap | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class CanvasRecord:
    image_id: str
    label: LanguageMap
    width: int
    height: int
    # IIIF Auth services for this image: 2.0 ones go on ImageService3, 1.0 on ImageService2.
    auth2: tuple[dict[str, object], ...] = ()
    auth1: tuple[dict[str, object], ...] = ()
    text: bool = False  # recognised text: an ALTO seeAlso and a supplementing annotation page


@dataclass(frozen=True, slots=True)
class RangeRecord:
    """An entry of the table of contents: some canvases and/or nested entries."""

    id: str
    label: LanguageMap
    canvases: tuple[str, ...] = ()  # image ids, in order
    children: tuple[RangeRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    item_id: str
    label: LanguageMap
    canvases: tuple[CanvasRecord, ...]
    summary: LanguageMap | None = None
    metadata: tuple[MetadataEntry, ...] = ()
    viewing_direction: str = "left-to-right"
    behavior: tuple[str, ...] = ()
    rights: str | None = None
    required_statement: MetadataEntry | None = None
    provider: Agent | None = None
    nav_date: str | None = None  # xsd:dateTime, e.g. "1850-01-01T00:00:00Z"
    start_image_id: str | None = None
    structures: tuple[RangeRecord, ...] = ()
    see_also: tuple[Link, ...] = ()
    rendering: tuple[Link, ...] = ()
    services: tuple[dict[str, object], ...] = ()
    part_of: tuple[str, ...] = ()  # collection slugs


@dataclass(frozen=True, slots=True)
class ManifestSummary:
    """What a collection lists about one of its manifests."""

    item_id: str
    label: LanguageMap
    thumbnail: CanvasRecord | None = None


@dataclass(frozen=True, slots=True)
class CollectionRecord:
    slug: str  # "top" for the top collection
    label: LanguageMap
    summary: LanguageMap | None = None
    manifests: tuple[ManifestSummary, ...] = ()
    children: tuple[tuple[str, LanguageMap], ...] = ()  # sub-collections: (slug, label)
    page: int | None = None  # for one page of a large collection
    pages: tuple[int, ...] = ()  # for a paged collection: its page numbers
    provider: Agent | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Urls:
    """Public base URLs, so every id works behind a proxy."""

    public_url: str
    image_url: str

    @property
    def base(self) -> str:
        return self.public_url.rstrip("/")

    def manifest(self, item_id: str, version: int = 3) -> str:
        prefix = "/iiif/2" if version == 2 else "/iiif"
        return f"{self.base}{prefix}/{quote(item_id, safe='')}/manifest"

    def canvas(self, item_id: str, image_id: str) -> str:
        return f"{self.base}/iiif/{quote(item_id, safe='')}/canvas/{quote(image_id, safe='')}"

    def range(self, item_id: str, range_id: str) -> str:
        return f"{self.base}/iiif/{quote(item_id, safe='')}/range/{quote(range_id, safe='')}"

    def text(self, item_id: str, image_id: str, kind: str) -> str:
        """The page's recognised text: kind 'annotations' (3.0), 'list' (2.1) or 'alto'."""
        suffix = {"annotations": "annotations", "list": "list", "alto": "alto.xml"}[kind]
        return f"{self.canvas(item_id, image_id)}/text/{suffix}"

    def search(self, item_id: str, version: int = 2) -> str:
        tail = "/1" if version == 1 else ""
        return f"{self.base}/iiif/{quote(item_id, safe='')}/search{tail}"

    def autocomplete(self, item_id: str, version: int = 2) -> str:
        tail = "/1" if version == 1 else ""
        return f"{self.base}/iiif/{quote(item_id, safe='')}/autocomplete{tail}"

    def item_page(self, item_id: str) -> str:
        return f"{self.base}/items/{quote(item_id, safe='')}"

    def collection(self, slug: str, version: int = 3, page: int | None = None) -> str:
        prefix = "/iiif/2/collection" if version == 2 else "/iiif/collection"
        tail = f"?page={page}" if page else ""
        return f"{self.base}{prefix}/{quote(slug, safe='')}{tail}"

    def image_service(self, image_id: str, version: int = 3) -> str:
        return f"{self.image_url.rstrip('/')}/iiif/{version}/{quote(image_id, safe='')}"
