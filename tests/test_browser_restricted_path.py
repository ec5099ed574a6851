"""In Chromium: an anonymous reader opens a restricted item, sees one banner in the page's
language and a lock (no broken images), clicks sign in once, signs in, and is back on the
same item, reading it. At a desk's width and a phone's, in Vietnamese and in English."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ARTIFACTS
from tests.test_browser import TILE, browser  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser

BANNER = {
    "vi": (
        [
            "Tài liệu hạn chế",
            "Bạn đọc đã đăng nhập được đọc tài liệu này.",
            "Đăng nhập để đọc tài liệu này",
        ],
        re.compile(r"Sign in|Restricted|read", re.I),
    ),
    "en": (
        ["Restricted item", "Signed-in readers may read this item.", "Sign in to read this item"],
        re.compile(r"Đăng nhập|Tài liệu|đọc", re.I),
    ),
}


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("language", ["vi", "en"])
def test_an_anonymous_reader_signs_in_once_and_is_back_on_the_item(
    site: dict[str, str],
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
    language: str,
    width: int,
) -> None:
    locale = {"vi": "vi-VN", "en": "en-GB"}[language]
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    page = context.new_page()
    images: list[tuple[int, str]] = []
    page.on("response", lambda r: images.append((r.status, r.url)) if "/iiif/3/" in r.url else None)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    item = f"{site['web']}/items/{site['restricted_item']}"
    page.goto(item)
    page.wait_for_load_state("networkidle")
    banner = page.locator(".access-banner")
    expected, foreign = BANNER[language]
    text = banner.inner_text()
    for words in expected:
        assert words in text, (words, text)
    assert not foreign.search(text), text  # one language at a time
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("h1").count() == 1
    # A lock where the pages would be: no viewer, no image that fails, no refused tile.
    assert page.locator(".locked-viewer .locked").is_visible()
    assert page.locator(".mirador-viewer").count() == 0
    broken = page.evaluate(
        "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length"
    )
    assert broken == 0
    assert [url for status, url in images if status != 200] == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"restricted-item-{language}-{width}.png"), full_page=True)
    # One click on the banner's sign-in, the form, and back on the same item.
    banner.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/auth/login\?next="))
    page.fill("input[name=username]", "docgia")
    page.fill("input[name=password]", "mat-khau-doc-gia")
    page.click("main button[type=submit]")
    page.wait_for_url(item)
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    assert page.locator(".access-banner").count() == 0
    for _ in range(60):
        if any(status == 200 and TILE.search(url) for status, url in images):
            break
        page.wait_for_timeout(500)
    assert any(status == 200 and TILE.search(url) for status, url in images), images
    page.screenshot(path=str(ARTIFACTS / f"restricted-item-signed-in-{language}-{width}.png"))
    assert errors == []
    context.close()
