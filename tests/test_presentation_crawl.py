"""A partner's harvester walks every collection and manifest; every URL it meets answers 200."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft7Validator


def fetch(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read(), response.headers.get("Content-Type", "")


def links(document: Any) -> Iterator[tuple[str, str]]:
    """(role, url) for every id a client would dereference, found anywhere in a document."""
    if isinstance(document, dict):
        kind = document.get("type") or document.get("@type")
        url = document.get("id") or document.get("@id")
        if isinstance(url, str) and kind in (
            "Image",
            "ImageService3",
            "ImageService2",
            "Text",
            "Dataset",
            "Collection",
            "Manifest",
        ):
            yield kind, url
        for value in document.values():
            yield from links(value)
    elif isinstance(document, list):
        for value in document:
            yield from links(value)


def test_every_url_a_client_would_fetch_answers_200(
    site: dict[str, str], presentation_schema: dict[str, Any]
) -> None:
    validator = Draft7Validator(presentation_schema)
    queue, seen, checked = [f"{site['web']}/iiif/collection/top"], set(), {}
    restricted: set[str] = set()  # URLs of images a client must sign in for
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        status, body, content_type = fetch(url)
        assert status == 200, url
        if "json" not in content_type:
            continue
        document = json.loads(body)
        assert not list(validator.iter_errors(document)), url
        needs_sign_in = "AuthProbeService2" in body.decode()
        for kind, link in links(document):
            on_image_server = link.startswith(site["image"])
            if needs_sign_in and on_image_server and kind.startswith("Image"):
                restricted.add(link if kind == "Image" else f"{link}/info.json")
                continue
            if kind in ("Collection", "Manifest"):
                queue.append(link)
            elif kind in ("ImageService3", "ImageService2"):
                checked[f"{link}/info.json"] = kind
            else:
                checked[link] = kind
    assert {u.split("/")[-2] for u in seen if u.endswith("/manifest")} >= {site["rtl_item"]}
    for url, kind in checked.items():
        status, body, content_type = fetch(url)
        assert status == 200, (kind, url)
        assert body, url
    assert restricted, "the sample has a restricted item"
    for url in restricted:  # refused until the reader signs in, never a 500 or a 404
        try:
            fetch(url)
        except urllib.error.HTTPError as refused:
            assert refused.code == 401, url
        else:
            raise AssertionError(f"{url} was served without signing in")
    kinds = set(checked.values())
    assert {"Image", "ImageService3", "ImageService2", "Text", "Dataset"} <= kinds
