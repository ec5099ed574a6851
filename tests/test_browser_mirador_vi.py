"""Mirador speaks our Vietnamese: the zoom buttons do what they say, and full screen is offered.

Mirador 4.0.0's own Vietnamese labels zoom in "Thu nhỏ" (zoom out) and the reverse; the
viewer replaces its strings (`viewer/static/tangthu-viewer.js`). Checked by what the
buttons do to the viewport, not only by their names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_browser import browser  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser


def _zoom(page: Any) -> float:
    return float(
        page.evaluate(
            """() => {
              const viewers = window.tangthuMirador.store.getState().viewers;
              const first = Object.values(viewers)[0];
              return first && first.zoom ? first.zoom : 0;
            }"""
        )
    )


def _open(page: Any, site: dict[str, str], language: str) -> None:
    item = f"/items/{site['rtl_item']}"
    page.goto(f"{site['web']}/lang/{language}?next={item}")
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    page.wait_for_function(
        "() => { const v = window.tangthuMirador && window.tangthuMirador.store.getState()"
        ".viewers; return v && Object.values(v).some(x => x && x.zoom); }",
        timeout=20_000,
    )


@pytest.mark.parametrize(
    ("language", "zoom_in", "zoom_out", "full_screen"),
    [("vi", "Phóng to", "Thu nhỏ", "Toàn màn hình"), ("en", "Zoom in", "Zoom out", "Full screen")],
)
def test_the_zoom_buttons_do_what_their_names_say(
    site: dict[str, str],
    browser: Any,  # noqa: F811
    language: str,
    zoom_in: str,
    zoom_out: str,
    full_screen: str,
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _open(page, site, language)
    before = _zoom(page)
    page.get_by_role("button", name=zoom_in, exact=True).click()
    page.wait_for_timeout(800)
    larger = _zoom(page)
    assert larger > before, (language, before, larger)
    page.get_by_role("button", name=zoom_out, exact=True).click()
    page.wait_for_timeout(800)
    assert _zoom(page) < larger
    # The window offers full screen, named in the reader's language.
    menu_labels = page.evaluate(
        "() => Array.from(document.querySelectorAll('button[aria-label]'))"
        ".map(b => b.getAttribute('aria-label'))"
    )
    if language == "vi":
        assert "Phóng to" in menu_labels and "Thu nhỏ" in menu_labels
        assert not any("Khoản mục" in label for label in menu_labels), menu_labels
    assert page.get_by_role("button", name=full_screen).count() > 0 or _full_screen_in_menu(
        page, full_screen
    ), menu_labels
    assert errors == []
    page.close()


def _full_screen_in_menu(page: Any, full_screen: str) -> bool:
    """Mirador keeps full screen in the window's top-bar menu when space is short."""
    buttons = page.locator(".mirador-window-top-bar button")
    for index in range(buttons.count()):
        buttons.nth(index).click()
        if page.get_by_role("menuitem", name=full_screen).count():
            page.keyboard.press("Escape")
            return True
        page.keyboard.press("Escape")
    return False


def test_an_open_item_has_one_top_heading_with_mirador_on_it(
    site: dict[str, str],
    browser: Any,  # noqa: F811
) -> None:
    """Mirador titles its workspace with a hidden <h1>: the viewer makes it level 2, so a
    screen reader hears the item's title as the only top heading."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _open(page, site, "vi")
    page.wait_for_timeout(500)
    tops = page.evaluate(
        "() => Array.from(document.querySelectorAll('h1'))"
        ".filter(h => (h.getAttribute('aria-level') || '1') === '1').length"
    )
    mirador = page.locator(".mirador-viewer h1").count()
    assert mirador >= 1 and tops == 1, (mirador, tops)
    page.close()
