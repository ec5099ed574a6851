"""The official IIIF Presentation validator's checks for 2.1 (github.com/IIIF/presentation-
validator): iiif-prezi's ManifestReader reads the document, then the HTTP answer is
checked as its fetch does. The JSON-LD contexts the reader expands with are kept in
tests/data/jsonld, copied from github.com/IIIF/api, as the tests reach no other network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTEXTS = Path(__file__).parent / "data" / "jsonld"
KEPT = {
    "http://iiif.io/api/presentation/2/context.json": "presentation-2-context.json",
    "http://iiif.io/api/image/2/context.json": "image-2-context.json",
    "http://iiif.io/api/search/1/context.json": "search-1-context.json",
    "http://iiif.io/api/auth/1/context.json": "auth-1-context.json",
}
# iiif-prezi 0.3.0 knows `rendering` as a 2.1 property (its PROPS_21) but never added it to
# any resource's properties, so every 2.1 `rendering` is reported as non-standard.
KNOWN_FALSE_WARNINGS = ("Setting non-standard field 'rendering' on resource of type",)


class ContextNotKept(Exception):
    """A document names a JSON-LD context that tests/data/jsonld does not hold."""


def local_context(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld's document loader, from the kept copies only."""
    if url not in KEPT:
        raise ContextNotKept(f"no local copy of the JSON-LD context {url}")
    return {
        "contextUrl": None,
        "documentUrl": url,
        "contentType": "application/ld+json",
        "document": json.loads((CONTEXTS / KEPT[url]).read_text()),
    }


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def fixable_warnings(self) -> list[str]:
        return [w for w in self.warnings if not any(k in w for k in KNOWN_FALSE_WARNINGS)]


def check_document(body: bytes | str, url: str | None = None) -> Report:
    """What the validator says of a 2.1 manifest or collection: errors and warnings."""
    from iiif_prezi.loader import ManifestReader
    from pyld import jsonld

    # iiif_prezi installs its own loader on import, in a form pyld 2 and later cannot call.
    jsonld.set_document_loader(local_context)
    text = body.decode() if isinstance(body, bytes) else body
    reader = ManifestReader(text, version="2.1")
    report = Report()
    try:
        resource = reader.read()
        resource.toJSON()
        if url and resource.id != url:
            report.errors.append(f"@id {resource.id} is not where it was fetched from, {url}")
    except Exception as exc:  # noqa: BLE001 - the validator reports any failure as the error
        report.errors.append(f"{type(exc).__name__}: {exc}")
    report.warnings += [line.strip() for line in reader.get_warnings()]
    return report


def check_answer(headers: Any) -> list[str]:
    """The validator's warnings about the HTTP answer to a request with gzip accepted."""
    warnings = []
    content_type = headers.get("Content-Type", "")
    if not content_type.startswith(("application/json", "application/ld+json")):
        warnings.append(f"content type {content_type!r}, not JSON")
    if headers.get("Access-Control-Allow-Origin", "") != "*":
        warnings.append("no Access-Control-Allow-Origin: *")
    if headers.get("Content-Encoding", "") != "gzip":
        warnings.append("not gzip-compressed when asked")
    elif "Accept-Encoding" not in headers.get("Vary", ""):
        warnings.append("gzip-compressed, but Vary does not name Accept-Encoding")
    return warnings
