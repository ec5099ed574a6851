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

from tests.conftest import ARTIFACTS
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


def canvases_of_text_item(site: dict[str, str]) -> list[str]:
    return canvases(site, "text_item")[1]


def canvases(site: dict[str, str], which: str = "rtl_item") -> tuple[str, list[str]]:
    url = f"{site['web']}/iiif/{site[which]}/manifest"
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
    # The share box holds a link to what is on screen, and that link opens it again.
    shared = page.input_value("#share-link")
    encoded = urllib.parse.parse_qs(urllib.parse.urlsplit(shared).query)["iiif-content"][0]
    decoded = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert decoded["target"]["id"].startswith(f"{ids[1]}#xywh=")
    assert decoded["target"]["partOf"][0]["id"] == manifest
    assert opened(page, site, encoded)["canvas"] == ids[1]
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


def test_a_search_hit_opens_the_book_at_the_hit_highlighted(
    site: dict[str, str],
    browser: Any,  # noqa: F811
) -> None:
    """The search results link to `/items/<id>?q=…`: the viewer searches inside the book,
    turns to the page of the first hit and paints the highlight."""
    from tests.test_browser import _highlighted_pixels

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.url) if "/search/" in r.url else None)
    page.goto(
        f"{site['web']}/items/{site['text_item']}?q={urllib.parse.quote('nguyen dinh chieu')}"
    )
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    hit = page.locator("aside li").filter(has=page.locator("strong", has_text="Nguyễn Đình Chiểu"))
    try:
        hit.first.wait_for(timeout=45_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "mirador-search-from-results-failed.png"))
        raise AssertionError((searches, errors)) from None
    highlighted = 0
    for _ in range(40):
        page.wait_for_timeout(500)
        highlighted = _highlighted_pixels(page.screenshot())
        if highlighted > 200:
            break
    page.screenshot(path=str(ARTIFACTS / "mirador-search-from-results.png"))
    # The panel takes part of the width, so the page is drawn smaller than in the test of
    # a search typed into Mirador; with no highlight this count is 0.
    assert highlighted > 200
    state = page.evaluate(STATE)
    assert state["canvas"].endswith(canvases_of_text_item(site)[1])
    # One search, each hit listed once (Mirador's defaultSearchQuery asks two different
    # URLs and lists every hit twice; its panel may repeat the same one).
    assert len(set(searches)) == 1, searches
    assert page.get_by_text("1 of 1").count() >= 1
    assert errors == []
    page.close()
