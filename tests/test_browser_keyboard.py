"""Keyboard only, in Chromium: from the home page a reader searches, opens a result, moves
into the viewer and on to the citation, and downloads it, with Tab, Shift+Tab, Enter and
typing; never a mouse click. Each step is checked by the URL or the focused element."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.test_browser import browser  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1280, 900), "phone": (375, 812)}
LOCALES = {"vi": "vi-VN", "en": "en-GB"}
QUERY = "nguyen dinh chieu"  # found only in the printed sample's recognised text
FOCUSED = """() => { const e = document.activeElement;
  const name = e.getAttribute('aria-label') || (e.textContent || '').trim().slice(0, 40);
  const kind = String(e.className).split(' ').pop();
  return `${e.tagName.toLowerCase()}#${e.id}.${kind} "${name}"`; }"""


def tab_to(
    page: Any, selector: str, within: bool = False, key: str = "Tab", most: int = 120
) -> int:
    """Press ``key`` until the focused element matches ``selector`` (or, ``within``, lies
    inside an element that does); how many presses it took."""
    test = (
        "s => !!document.activeElement.closest(s)"
        if within
        else "s => document.activeElement.matches(s)"
    )
    passed = []
    for presses in range(1, most + 1):
        page.keyboard.press(key)
        if page.evaluate(test, selector):
            return presses
        passed.append(page.evaluate(FOCUSED))
    raise AssertionError(f"{selector} not reached in {most} presses of {key}: {passed[-8:]}")


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("language", list(LOCALES))
def test_search_item_viewer_citation_by_keyboard_alone(
    site: dict[str, str],
    browser: Any,  # noqa: F811
    language: str,
    size: str,
) -> None:
    web, item = site["web"], site["text_item"]
    width, height = SIZES[size]
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale=LOCALES[language]
    )
    page = context.new_page()
    mouse: list[str] = []
    page.expose_function("tangthuSawMouse", lambda kind: mouse.append(kind))
    page.add_init_script(
        "addEventListener('mousedown', () => window.tangthuSawMouse('down'), true)"
    )
    page.goto(f"{web}/")

    # Skip link first, then the site's search box: type the words and press Enter.
    assert tab_to(page, "a.skip") == 1
    steps = {"search box": tab_to(page, "#site-search")}
    page.keyboard.type(QUERY)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=nguyen"))
    assert page.locator(".results").count() == 1

    # The full-text hit: Enter on its link opens the item.
    steps["result"] = tab_to(page, f".results a[href^='/items/{item}']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/items/{item}(\?.*)?$"))
    page.wait_for_selector(".mirador-viewer .openseadragon-canvas", timeout=20_000)

    # Into the viewer: focus lands on one of Mirador's own controls.
    steps["viewer"] = tab_to(page, "#mirador", within=True)
    inside = page.evaluate(FOCUSED)
    # ... and on to the page image itself, whose zoom answers the keyboard.
    steps["page image"] = tab_to(page, "#mirador .openseadragon-canvas", within=True)
    image = page.locator("#mirador .openseadragon-canvas")
    page.wait_for_load_state("networkidle")  # every tile in, so only the zoom changes it
    before = image.screenshot()
    page.keyboard.press("+")
    page.wait_for_timeout(1500)  # OpenSeadragon's zoom animation
    assert image.screenshot() != before, "the page image did not zoom in on +"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"keyboard-viewer-{language}-{width}.png"))

    # On past the viewer to the citation; Shift+Tab goes back to its heading and Tab forth.
    steps["citation"] = tab_to(page, "details.cite a[href$='/cite.ris']")
    assert page.locator("#citation").inner_text().strip()
    tab_to(page, "details.cite summary", key="Shift+Tab", most=3)
    tab_to(page, "details.cite a[href$='/cite.ris']", most=3)
    with page.expect_download() as downloading:
        page.keyboard.press("Enter")
    download = downloading.value
    assert download.suggested_filename == f"{item}.ris"
    assert "TY  -" in Path(download.path()).read_text(encoding="utf-8")
    assert mouse == [], "a mouse button was pressed"
    assert len(context.pages) == 1, "no other window opened on the way"
    (ARTIFACTS / f"keyboard-path-{language}-{width}.json").write_text(
        json.dumps({"tab presses": steps, "first focus in the viewer": inside}, ensure_ascii=False)
    )
    context.close()
