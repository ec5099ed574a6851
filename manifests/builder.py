"""Build IIIF Presentation 3.0 manifests from records with iiif-prezi3: no I/O."""

from __future__ import annotations

import math
from typing import Any

from iiif_prezi3 import (
    Annotation,
    AnnotationBody,
    AnnotationPage,
    Canvas,
    KeyValueString,
    Manifest,
    ServiceV3,
)

from .records import CanvasRecord, ManifestRecord, Urls

THUMBNAIL_EDGE = 256
PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"


def fit(width: int, height: int, edge: int) -> tuple[int, int]:
    """Scale (width, height) to fit inside an edge x edge square, never up."""
    scale = min(1.0, edge / width, edge / height)
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def image_service(urls: Urls, image_id: str) -> ServiceV3:
    return ServiceV3(id=urls.image_service(image_id), type="ImageService3", profile="level2")


def thumbnail(urls: Urls, canvas: CanvasRecord) -> AnnotationBody:
    width, height = fit(canvas.width, canvas.height, THUMBNAIL_EDGE)
    return AnnotationBody(
        id=f"{urls.image_service(canvas.image_id)}/full/{width},{height}/0/default.jpg",
        type="Image",
        format="image/jpeg",
        width=width,
        height=height,
        service=[image_service(urls, canvas.image_id)],
    )


def build_canvas(urls: Urls, item_id: str, record: CanvasRecord) -> Canvas:
    canvas_id = urls.canvas(item_id, record.image_id)
    body = AnnotationBody(
        id=f"{urls.image_service(record.image_id)}/full/max/0/default.jpg",
        type="Image",
        format="image/jpeg",
        width=record.width,
        height=record.height,
        service=[image_service(urls, record.image_id)],
    )
    painting = Annotation(
        id=f"{canvas_id}/annotation/painting",
        motivation="painting",
        body=body,
        target=canvas_id,
    )
    return Canvas(
        id=canvas_id,
        label=record.label,
        width=record.width,
        height=record.height,
        items=[AnnotationPage(id=f"{canvas_id}/page/painting", items=[painting])],
        thumbnail=[thumbnail(urls, record)],
    )


def build_manifest(record: ManifestRecord, urls: Urls) -> Manifest:
    manifest = Manifest(
        id=urls.manifest(record.item_id),
        label=record.label,
        viewingDirection=record.viewing_direction,
        items=[build_canvas(urls, record.item_id, c) for c in record.canvases],
        homepage=[
            {
                "id": urls.item_page(record.item_id),
                "type": "Text",
                "label": record.label,
                "format": "text/html",
            }
        ],
    )
    if record.summary:
        manifest.summary = record.summary
    if record.metadata:
        manifest.metadata = [KeyValueString(label=m.label, value=m.value) for m in record.metadata]
    if record.rights:
        manifest.rights = record.rights
    if record.required_statement:
        statement = record.required_statement
        manifest.requiredStatement = KeyValueString(label=statement.label, value=statement.value)
    if record.canvases:
        manifest.thumbnail = [thumbnail(urls, record.canvases[0])]
    return manifest


def manifest_json(record: ManifestRecord, urls: Urls) -> dict[str, Any]:
    """The manifest as a JSON-ready dict, @context first."""
    return to_jsonld(build_manifest(record, urls))


def to_jsonld(resource: Manifest) -> dict[str, Any]:
    """Serialise a prezi3 resource to plain JSON types with the Presentation context."""
    body: dict[str, Any] = resource.model_dump(mode="json", exclude_none=True, by_alias=True)
    body.pop("@context", None)
    return {"@context": PRESENTATION_CONTEXT, **body}
