"""Build IIIF Presentation 3.0 manifests and collections with iiif-prezi3: no I/O."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from iiif_prezi3 import (
    AnnotationBody,
    CanvasRef,
    Collection,
    CollectionRef,
    KeyValueString,
    Manifest,
    ManifestRef,
    Provider,
    Range,
    ServiceV2,
    ServiceV3,
)

from .records import (
    Agent,
    CanvasRecord,
    CollectionRecord,
    LanguageMap,
    Link,
    ManifestRecord,
    MetadataEntry,
    RangeRecord,
    Urls,
)
from .sanitise import clean_map

THUMBNAIL_EDGE = 256
PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
ALTO_PROFILE = "http://www.loc.gov/standards/alto/ns-v3#"


def fit(width: int, height: int, edge: int) -> tuple[int, int]:
    """Scale (width, height) to fit inside an edge x edge square, never up."""
    scale = min(1.0, edge / width, edge / height)
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def image_services(urls: Urls, canvas: CanvasRecord) -> list[ServiceV3 | ServiceV2]:
    """The Image API 3.0 service, and the 2.1 one for older clients, with any auth."""
    v3 = ServiceV3(id=urls.image_service(canvas.image_id), type="ImageService3", profile="level2")
    v2 = ServiceV2(
        id=urls.image_service(canvas.image_id, 2),
        type="ImageService2",
        profile="http://iiif.io/api/image/2/level2.json",
    )
    if canvas.auth2:
        v3.service = [dict(s) for s in canvas.auth2]
    if canvas.auth1:
        v2.service = [dict(s) for s in canvas.auth1]
    return [v3, v2]


def thumbnail(urls: Urls, canvas: CanvasRecord) -> AnnotationBody:
    width, height = fit(canvas.width, canvas.height, THUMBNAIL_EDGE)
    return AnnotationBody(
        id=f"{urls.image_service(canvas.image_id)}/full/{width},{height}/0/default.jpg",
        type="Image",
        format="image/jpeg",
        width=width,
        height=height,
        service=[image_services(urls, canvas)[0]],
    )


def thumbnail_json(urls: Urls, record: CanvasRecord) -> dict[str, Any]:
    """A page's thumbnail with its Image API 3.0 service, as JSON: the same as
    ``thumbnail`` gives through iiif-prezi3, for lists of many (canvases, collections)."""
    service = urls.image_service(record.image_id)
    v3: dict[str, Any] = {"id": service, "type": "ImageService3", "profile": "level2"}
    if record.auth2:
        v3["service"] = [dict(s) for s in record.auth2]
    width, height = fit(record.width, record.height, THUMBNAIL_EDGE)
    return {
        "id": f"{service}/full/{width},{height}/0/default.jpg",
        "type": "Image",
        "height": height,
        "width": width,
        "service": [v3],
        "format": "image/jpeg",
    }


def canvas_json(urls: Urls, item_id: str, record: CanvasRecord) -> dict[str, Any]:
    """One canvas as JSON, written out directly.

    A book has thousands of canvases of one fixed shape, and iiif-prezi3 validates each
    of its nine objects on construction (about half a millisecond a canvas); the
    manifest around them is still built and validated by iiif-prezi3, and every canvas
    shape is checked against the Presentation 3.0 schema in the tests."""
    canvas_id = urls.canvas(item_id, record.image_id)
    service = urls.image_service(record.image_id)
    v3: dict[str, Any] = {"id": service, "type": "ImageService3", "profile": "level2"}
    if record.auth2:
        v3["service"] = [dict(s) for s in record.auth2]
    v2: dict[str, Any] = {
        "@id": urls.image_service(record.image_id, 2),
        "@type": "ImageService2",
        "profile": "http://iiif.io/api/image/2/level2.json",
    }
    if record.auth1:
        v2["service"] = [dict(s) for s in record.auth1]
    canvas: dict[str, Any] = {
        "id": canvas_id,
        "type": "Canvas",
        "label": clean_map(record.label),
        "height": record.height,
        "width": record.width,
    }
    if record.text:
        canvas["seeAlso"] = [alto_link(urls, item_id, record.image_id)]
    canvas["thumbnail"] = [thumbnail_json(urls, record)]
    painting = {
        "id": f"{canvas_id}/annotation/painting",
        "type": "Annotation",
        "motivation": "painting",
        "body": {
            "id": f"{service}/full/max/0/default.jpg",
            "type": "Image",
            "height": record.height,
            "width": record.width,
            "service": [v3, v2],
            "format": "image/jpeg",
        },
        "target": canvas_id,
    }
    canvas["items"] = [
        {"id": f"{canvas_id}/page/painting", "type": "AnnotationPage", "items": [painting]}
    ]
    if record.text:
        canvas["annotations"] = [
            {
                "id": urls.text(item_id, record.image_id, "annotations"),
                "type": "AnnotationPage",
                "items": [],  # as iiif-prezi3 has always written it: a page fetched by id
            }
        ]
    return canvas


def alto_link(urls: Urls, item_id: str, image_id: str) -> dict[str, Any]:
    """The page's recognised text as ALTO, with every word's box in canvas pixels."""
    return {
        "id": urls.text(item_id, image_id, "alto"),
        "type": "Dataset",
        "format": "application/xml",
        "profile": ALTO_PROFILE,
        "label": {"vi": ["Văn bản nhận dạng (ALTO)"], "en": ["Recognised text (ALTO)"]},
    }


def build_range(urls: Urls, item_id: str, record: RangeRecord) -> Range:
    items: list[Range | CanvasRef] = [
        CanvasRef(id=urls.canvas(item_id, image_id), type="Canvas") for image_id in record.canvases
    ]
    items += [build_range(urls, item_id, child) for child in record.children]
    return Range(id=urls.range(item_id, record.id), label=clean_map(record.label), items=items)


def key_value(entry: MetadataEntry) -> KeyValueString:
    return KeyValueString(label=clean_map(entry.label), value=clean_map(entry.value))


def provider(agent: Agent) -> Provider:
    logo = None
    if agent.logo:
        logo = [AnnotationBody(id=agent.logo, type="Image", format="image/png")]
    return Provider(
        id=agent.id,
        label=clean_map(agent.label),
        homepage=[
            {
                "id": agent.homepage,
                "type": "Text",
                "label": clean_map(agent.label),
                "format": "text/html",
            }
        ],
        logo=logo,
    )


def linked(link: Link) -> dict[str, Any]:
    resource: dict[str, Any] = {"id": link.id, "type": link.type, "format": link.format}
    if link.label:
        resource["label"] = clean_map(link.label)
    if link.profile:
        resource["profile"] = link.profile
    return resource


def build_manifest(record: ManifestRecord, urls: Urls) -> Manifest:
    label = clean_map(record.label)
    manifest = Manifest(
        id=urls.manifest(record.item_id),
        label=label,
        viewingDirection=record.viewing_direction,
        items=[],  # written out by canvas_json, see manifest_json
        homepage=[
            {
                "id": urls.item_page(record.item_id),
                "type": "Text",
                "label": label,
                "format": "text/html",
            }
        ],
    )
    if record.summary:
        manifest.summary = clean_map(record.summary)
    if record.metadata:
        manifest.metadata = [key_value(m) for m in record.metadata]
    if record.required_statement:
        manifest.requiredStatement = key_value(record.required_statement)
    if record.rights:
        manifest.rights = record.rights
    if record.provider:
        manifest.provider = [provider(record.provider)]
    if record.behavior:
        manifest.behavior = list(record.behavior)
    if record.nav_date:
        manifest.navDate = record.nav_date
    if record.canvases:
        manifest.thumbnail = [thumbnail(urls, record.canvases[0])]
    if record.start_image_id:
        manifest.start = CanvasRef(
            id=urls.canvas(record.item_id, record.start_image_id), type="Canvas"
        )
    if record.structures:
        manifest.structures = [build_range(urls, record.item_id, r) for r in record.structures]
    if record.see_also:
        manifest.seeAlso = [linked(link) for link in record.see_also]
    if record.rendering:
        manifest.rendering = [linked(link) for link in record.rendering]
    if record.services:
        manifest.service = [dict(s) for s in record.services]
    if record.part_of:
        manifest.partOf = [
            {"id": urls.collection(slug), "type": "Collection"} for slug in record.part_of
        ]
    return manifest


def to_jsonld(resource: Manifest | Collection) -> dict[str, Any]:
    """Serialise a prezi3 resource to plain JSON types with the Presentation context."""
    body: dict[str, Any] = resource.model_dump(mode="json", exclude_none=True, by_alias=True)
    body.pop("@context", None)
    return {"@context": PRESENTATION_CONTEXT, **body}


def manifest_json(record: ManifestRecord, urls: Urls) -> dict[str, Any]:
    """The manifest as a JSON-ready dict, @context first."""
    document = to_jsonld(build_manifest(record, urls))
    document["items"] = [canvas_json(urls, record.item_id, c) for c in record.canvases]
    return document


def _collection_items(record: CollectionRecord, urls: Urls) -> list[ManifestRef | CollectionRef]:
    items: list[ManifestRef | CollectionRef] = []
    for slug, child_label in record.children:
        items.append(
            CollectionRef(id=urls.collection(slug), type="Collection", label=clean_map(child_label))
        )
    for page in record.pages:
        page_label: LanguageMap = {"vi": [f"Phần {page}"], "en": [f"Part {page}"]}
        items.append(
            CollectionRef(
                id=urls.collection(record.slug, page=page), type="Collection", label=page_label
            )
        )
    for summary in record.manifests:
        reference = ManifestRef(
            id=urls.manifest(summary.item_id), type="Manifest", label=clean_map(summary.label)
        )
        if summary.thumbnail:
            reference.thumbnail = [thumbnail(urls, summary.thumbnail)]
        items.append(reference)
    return items


def build_collection(record: CollectionRecord, urls: Urls) -> Collection:
    collection = Collection(
        id=urls.collection(record.slug, page=record.page),
        label=clean_map(record.label),
        items=_collection_items(record, urls),
    )
    if record.summary:
        collection.summary = clean_map(record.summary)
    if record.provider:
        collection.provider = [provider(record.provider)]
    if record.page:
        collection.partOf = [{"id": urls.collection(record.slug), "type": "Collection"}]
    return collection


def collection_json(record: CollectionRecord, urls: Urls) -> dict[str, Any]:
    """The collection as a JSON-ready dict. Its manifest references (up to a page of a
    thousand, each with a thumbnail) are written out directly, as canvases are: built
    through iiif-prezi3 they cost about a second a page at 200,000 items; the collection
    around them is still built and validated by it, and the tests check the whole against
    the Presentation 3.0 schema and against ``build_collection``."""
    document = to_jsonld(build_collection(replace(record, manifests=()), urls))
    document["items"] = [*document.get("items", ()), *manifest_refs_json(record, urls)]
    return document


def manifest_refs_json(record: CollectionRecord, urls: Urls) -> list[dict[str, Any]]:
    """The collection's manifest references as JSON, each with its thumbnail if any."""
    refs = []
    for summary in record.manifests:
        ref: dict[str, Any] = {
            "id": urls.manifest(summary.item_id),
            "type": "Manifest",
            "label": clean_map(summary.label),
        }
        if summary.thumbnail:
            ref["thumbnail"] = [thumbnail_json(urls, summary.thumbnail)]
        refs.append(ref)
    return refs
