"""IIIF Content State 1.0: a link opens the book at the page and region it names.

The viewer honours `?iiif-content=` on the item page (base64url JSON, as the spec
encodes it, or plain JSON), for states about this manifest only; the share box writes
such a link for the page and region on screen."""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.test_browser import browser  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser

STATE = """() => {
  const state = window.tangthuMirador.store.getState();
  const id = Object.keys(state.windows)[0];
  return {canvas: state.windows[id].canvasId, viewer: state.viewers[id] || null};
}"""


def encode(state: dict[str, Any]) -> str:
    raw = json.dumps(state).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def canvases(site: dict[str, str]) -> tuple[str, list[str]]:
    url = f"{site['web']}/iiif/{site['rtl_item']}/manifest"
    with urllib.request.urlopen(url, timeout=10) as response:
        manifest = json.load(response)
    return manifest["id"], [canvas["id"] for canvas in manifest["items"]]


def opened(page: Any, site: dict[str, str], content: str | None) -> dict[str, Any]:
    query = f"?iiif-content={urllib.parse.quote(content)}" if content is not None else ""
    page.goto(f"{site['web']}/items/{site['rtl_item']}{query}")
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    page.wait_for_function(
        "() => { const s = window.tangthuMirador && window.tangthuMirador.store.getState();"
        " return s && Object.values(s.windows).some(w => w.canvasId); }",
        timeout=20_000,
    )
    page.wait_for_timeout(1_500)  # let the first tiles land and the viewport settle
    state: dict[str, Any] = page.evaluate(STATE)
    return state


def test_a_content_state_link_opens_the_named_page_and_region(
    site: dict[str, str],
    browser: Any,  # noqa: F811
) -> None:
    manifest, ids = canvases(site)
    assert len(ids) >= 2, "the sample book needs two pages for this test"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    state = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": "https://example.org/state/1",
        "type": "Annotation",
        "motivation": ["contentState"],
        "target": {
            "id": f"{ids[1]}#xywh=100,200,400,300",
            "type": "Canvas",
            "partOf": [{"id": manifest, "type": "Manifest"}],
        },
    }
    found = opened(page, site, encode(state))
    assert found["canvas"] == ids[1]
    viewer = found["viewer"]
    assert viewer is not None and abs(viewer["x"] - 300) < 5 and abs(viewer["y"] - 350) < 5
    assert abs(1 / viewer["zoom"] - 400) < 40, viewer  # about 400 canvas pixels across
    # A state about another book, a hostile one, and none at all: the first page.
    other = json.loads(json.dumps(state))
    other["target"]["partOf"] = [{"id": "https://elsewhere.example/m", "type": "Manifest"}]
    for content in (encode(other), "%%%not-base64", "A" * 3000, "eyJ0YXJnZXQiOjF9", None):
        assert opened(page, site, content)["canvas"] == ids[0], content and content[:40]
    # Plain JSON and a bare canvas URL are read too.
    assert opened(page, site, json.dumps(state))["canvas"] == ids[1]
    assert opened(page, site, ids[1])["canvas"] == ids[1]
    assert errors == []
    page.close()
