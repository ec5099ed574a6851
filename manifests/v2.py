"""The same records as IIIF Presentation 2.1, for viewers that predate 3.0."""

from __future__ import annotations

from typing import Any

from .builder import ALTO_PROFILE, THUMBNAIL_EDGE, fit
from .records import (
    CanvasRecord,
    CollectionRecord,
    LanguageMap,
    ManifestRecord,
    RangeRecord,
    Urls,
)
from .sanitise import clean_map

CONTEXT = "http://iiif.io/api/presentation/2/context.json"
IMAGE_CONTEXT = "http://iiif.io/api/image/2/context.json"
IMAGE_PROFILE = "http://iiif.io/api/image/2/level2.json"
VIEWING_HINTS = {"paged", "individuals", "continuous"}
SEARCH1_CONTEXT = "http://iiif.io/api/search/1/context.json"
SEARCH1_PROFILE = "http://iiif.io/api/search/1/search"


def value(values: LanguageMap) -> str | list[dict[str, str]]:
    """A 3.0 language map as a 2.1 value: a plain string, or @value/@language pairs."""
    cleaned = clean_map(values)
    pairs = [(lang, text) for lang, texts in cleaned.items() for text in texts]
    if all(lang == "none" for lang, _ in pairs):
        return "; ".join(text for _, text in pairs)
    return [
        {"@value": text, "@language": lang} if lang != "none" else {"@value": text}
        for lang, text in pairs
    ]


def plain(values: LanguageMap) -> str:
    """A language map as one plain string ("Tải về / Download"), for strict 2.1 readers."""
    texts = [text for texts in clean_map(values).values() for text in texts]
    return " / ".join(dict.fromkeys(texts))


def image_service(urls: Urls, image_id: str) -> dict[str, str]:
    return {
        "@context": IMAGE_CONTEXT,
        "@id": urls.image_service(image_id, 2),
        "profile": IMAGE_PROFILE,
    }


def thumbnail(urls: Urls, record: CanvasRecord) -> dict[str, Any]:
    """The same small image as the 3.0 thumbnail, with its size, from the 2.1 service."""
    width, height = fit(record.width, record.height, THUMBNAIL_EDGE)
    return {
        "@id": f"{urls.image_service(record.image_id, 2)}/full/{width},{height}/0/default.jpg",
        "@type": "dctypes:Image",
        "format": "image/jpeg",
        "width": width,
        "height": height,
        "service": image_service(urls, record.image_id),
    }


def canvas(urls: Urls, item_id: str, record: CanvasRecord) -> dict[str, Any]:
    canvas_id = urls.canvas(item_id, record.image_id)
    document: dict[str, Any] = {
        "@id": canvas_id,
        "@type": "sc:Canvas",
        "label": value(record.label),
        "width": record.width,
        "height": record.height,
        "thumbnail": thumbnail(urls, record),
        "images": [
            {
                "@id": f"{canvas_id}/annotation/painting",
                "@type": "oa:Annotation",
                "motivation": "sc:painting",
                "on": canvas_id,
                "resource": {
                    "@id": f"{urls.image_service(record.image_id, 2)}/full/full/0/default.jpg",
                    "@type": "dctypes:Image",
                    "format": "image/jpeg",
                    "width": record.width,
                    "height": record.height,
                    "service": image_service(urls, record.image_id),
                },
            }
        ],
    }
    if record.text:  # the recognised text, as an annotation list and as ALTO
        document["otherContent"] = [
            {"@id": urls.text(item_id, record.image_id, "list"), "@type": "sc:AnnotationList"}
        ]
        document["seeAlso"] = [
            {
                "@id": urls.text(item_id, record.image_id, "alto"),
                "format": "application/xml",
                "profile": ALTO_PROFILE,
            }
        ]
    return document


def ranges(
    urls: Urls, item_id: str, records: tuple[RangeRecord, ...], top: bool = True
) -> list[dict[str, Any]]:
    """2.1 ranges are a flat list; nesting is by reference in `ranges`."""
    flat: list[dict[str, Any]] = []
    for record in records:
        entry: dict[str, Any] = {
            "@id": urls.range(item_id, record.id),
            "@type": "sc:Range",
            "label": value(record.label),
            "canvases": [urls.canvas(item_id, image_id) for image_id in record.canvases],
            "ranges": [urls.range(item_id, child.id) for child in record.children],
        }
        if top:
            entry["viewingHint"] = "top"
        flat.append(entry)
        flat += ranges(urls, item_id, record.children, top=False)
    return flat


def search_service(service: dict[str, object]) -> dict[str, Any]:
    """Content Search 1.0 as 2.1 has it: each service, the nested autocomplete too, with
    its @context."""
    described: dict[str, Any] = {"@context": SEARCH1_CONTEXT, **service}
    nested = service.get("service")
    if isinstance(nested, dict):
        described["service"] = {"@context": SEARCH1_CONTEXT, **nested}
    return described


def manifest_v2(record: ManifestRecord, urls: Urls) -> dict[str, Any]:
    manifest_id = urls.manifest(record.item_id, 2)
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": manifest_id,
        "@type": "sc:Manifest",
        "label": value(record.label),
        "viewingDirection": record.viewing_direction,
        "related": {"@id": urls.item_page(record.item_id), "format": "text/html"},
        "metadata": [{"label": value(m.label), "value": value(m.value)} for m in record.metadata],
        "sequences": [
            {
                "@id": f"{manifest_id}/sequence/normal",
                "@type": "sc:Sequence",
                # Here as well as on the manifest: upgraders to 3.0 (@iiif/parser) read it
                # from the sequence only.
                "viewingDirection": record.viewing_direction,
                "canvases": [canvas(urls, record.item_id, c) for c in record.canvases],
            }
        ],
    }
    # A 2.1 manifest should have a description (the validator warns): without a summary,
    # say what the reader will find.
    pages = len(record.canvases)
    document["description"] = value(
        record.summary or {"vi": [f"{pages} trang ảnh số"], "en": [f"{pages} digitised pages"]}
    )
    hints = [b for b in record.behavior if b in VIEWING_HINTS]
    if hints:
        document["viewingHint"] = hints[0]
    if record.nav_date:
        document["navDate"] = record.nav_date
    if record.rights:
        document["license"] = record.rights
    if record.required_statement:
        document["attribution"] = value(record.required_statement.value)
    if record.provider and record.provider.logo:
        document["logo"] = record.provider.logo
    if record.canvases:
        document["thumbnail"] = thumbnail(urls, record.canvases[0])
    if record.start_image_id:
        document["sequences"][0]["startCanvas"] = urls.canvas(record.item_id, record.start_image_id)
    if record.structures:
        document["structures"] = ranges(urls, record.item_id, record.structures)
    if record.see_also:
        document["seeAlso"] = [{"@id": s.id, "format": s.format} for s in record.see_also]
    if record.rendering:
        # A plain-string label: strict 2.1 readers (Allmaps) refuse language-tagged ones here.
        document["rendering"] = [
            {"@id": r.id, "format": r.format, "label": plain(r.label or {"none": [r.format]})}
            for r in record.rendering
        ]
    if record.part_of:
        document["within"] = [urls.collection(slug, 2) for slug in record.part_of]
    search = [s for s in record.services if s.get("profile") == SEARCH1_PROFILE]
    if search:
        document["service"] = [search_service(s) for s in search]
    return document


def collection_v2(record: CollectionRecord, urls: Urls) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": urls.collection(record.slug, 2, record.page),
        "@type": "sc:Collection",
        "label": value(record.label),
        "collections": [
            {"@id": urls.collection(slug, 2), "@type": "sc:Collection", "label": value(label)}
            for slug, label in record.children
        ]
        + [
            {
                "@id": urls.collection(record.slug, 2, page),
                "@type": "sc:Collection",
                "label": f"Part {page}",
            }
            for page in record.pages
        ],
        "manifests": [
            {"@id": urls.manifest(m.item_id, 2), "@type": "sc:Manifest", "label": value(m.label)}
            for m in record.manifests
        ],
    }
    if record.summary:
        document["description"] = value(record.summary)
    return document
