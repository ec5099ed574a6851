"""A researcher finds the sample Hán-Nôm book by two of its characters and reads the hit
highlighted in Mirador: search page → item page at the hit (`?q=`), vertical columns."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.test_browser import (
    _highlighted_pixels,
    browser,  # noqa: F401  (the module's Chromium)
)

pytestmark = pytest.mark.browser


def test_han_words_are_found_and_highlighted_in_the_book(
    site: dict[str, str],
    browser: Any,  # noqa: F811
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site['web']}/search?q={urllib.parse.quote('史記')}")
    page.wait_for_selector("main a[href*='/items/']", timeout=20_000)
    assert "史記" in page.inner_text("main")  # the hit, in the Hán title or its snippet
    link = page.locator("main a[href*='/items/']").first
    match = re.search(r"/items/([A-Za-z0-9_-]+)", link.get_attribute("href") or "")
    assert match, "the search page links to the book"
    item = match.group(1)
    # Opened from the hit: Mirador searches inside the book and paints the highlight.
    page.goto(f"{site['web']}/items/{item}?q={urllib.parse.quote('天地')}")
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    hit = page.locator("aside li").filter(has=page.locator("strong", has_text="天地"))
    hit.first.wait_for(timeout=30_000)
    highlighted = 0
    for _ in range(40):
        page.wait_for_timeout(500)
        highlighted = _highlighted_pixels(page.screenshot())
        if highlighted > 50:
            break
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "mirador-han-search.png"))
    assert highlighted > 50
    direction = page.evaluate(
        "() => { const s = window.tangthuMirador.store.getState();"
        " const m = Object.values(s.manifests)[0]; return m.json.viewingDirection; }"
    )
    assert direction == "right-to-left"
    assert errors == []
    page.close()
