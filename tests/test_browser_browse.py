"""Browsing and reading in Chromium, at desktop and phone widths, in Vietnamese and
English: /browse and a subject's listing, then a Hán-Nôm item with its previous and next
items and the text of the page on screen, which follows the page Mirador shows and turns
Mirador's page in turn. Screenshots are kept in tests/artifacts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner

from tests.conftest import ARTIFACTS, sample_site
from tests.test_browser import browser  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1280, 900), "phone": (375, 812)}
SUBJECT = "Truyện Nôm"
HEADING = {"vi": "Duyệt các bộ sưu tập", "en": "Browse the collections"}
PANEL = {"vi": "Văn bản của trang này", "en": "Text of this page"}
NO_TEXT = {
    "vi": "Không nhận dạng được chữ nào trên trang này.",
    "en": "No text was recognised on this page.",
}
NEXT_ITEM = {"vi": "Tài liệu sau", "en": "Next item"}
PREVIOUS_ITEM = {"vi": "Tài liệu trước", "en": "Previous item"}


def _page_words(number: int) -> str:
    return f"{'南國山河南帝居'[: number + 2]}第{number}"


def _describe(runner: FlaskCliRunner, ids: dict[str, str]) -> None:
    """The Nôm book gets a subject, a creator, a date and the text of its pages after the
    first (as OCR in vertical columns would leave it); another book shares its subject."""
    from repository.extensions import db
    from repository.models import Item, PageText

    with runner.app.app_context():
        book = db.session.get(Item, ids["rtl_item"])
        assert book is not None
        book.dc = {
            **book.dc,
            "subject": [{"value": SUBJECT, "lang": "vi"}],
            "creator": [{"value": "Nguyễn Du"}],
            "coverage": [{"value": "Thăng Long"}],
        }
        book.year_start = 1820
        for image in book.images[1:]:
            db.session.add(
                PageText(
                    image_id=image.id,
                    item_id=book.id,
                    languages="chi_tra_vert",
                    status="done",
                    text=_page_words(image.position),
                )
            )
        printed = db.session.get(Item, ids["text_item"])
        assert printed is not None
        printed.dc = {**printed.dc, "subject": [{"value": SUBJECT, "lang": "vi"}]}
        db.session.commit()
    result = runner.invoke(args=["reindex"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def reading_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root: Path = tmp_path_factory.mktemp("browse")
    with sample_site(root, prepare=_describe) as served:
        yield served


def _open(
    chromium: Any, web: str, size: str, language: str, path: str
) -> tuple[Any, Any, list[str]]:
    context = chromium.new_context(
        viewport={"width": SIZES[size][0], "height": SIZES[size][1]},
        locale="vi-VN" if language == "vi" else "en-US",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{web}/lang/{language}?next={path}")
    return context, page, errors


def _fits(page: Any) -> bool:
    """Nothing wider than the screen: no sideways scrolling of the page."""
    return bool(
        page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    )


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_browse_then_open_a_subject(
    reading_site: dict[str, str],
    browser: Any,  # noqa: F811
    language: str,
    size: str,
) -> None:
    web = reading_site["web"]
    context, page, errors = _open(browser, web, size, language, "/browse")
    try:
        assert page.locator("h1").inner_text() == HEADING[language]
        assert page.locator(".browse-ways a").count() == 8
        assert page.locator(".browse-ways a").first.is_visible()
        assert page.locator(".recent .card").count() >= 3
        assert "Thăng Long" in page.locator("#by-place").locator("..").inner_text()
        assert _fits(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"browse-{size}-{language}.png"), full_page=True)
        page.get_by_role("link", name=SUBJECT).first.click()
        page.wait_for_url(re.compile(r"/browse/subject\?term="))
        assert page.locator("h1").inner_text() == SUBJECT
        cards = page.locator(".grid .card a")
        assert cards.count() == 2
        hrefs = {cards.nth(i).get_attribute("href") for i in range(2)}
        assert hrefs == {
            f"/items/{reading_site['rtl_item']}",
            f"/items/{reading_site['text_item']}",
        }
        assert _fits(page)
        page.screenshot(
            path=str(ARTIFACTS / f"browse-subject-{size}-{language}.png"), full_page=True
        )
        assert errors == []
    finally:
        context.close()


def _canvas_image(page: Any) -> str:
    return str(
        page.evaluate(
            """() => {
              const state = window.tangthuMirador.store.getState();
              const id = Object.values(state.windows)[0].canvasId || "";
              return decodeURIComponent(id.split("/canvas/")[1] || "");
            }"""
        )
    )


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_item_page_neighbours_and_the_text_of_the_page_on_screen(
    reading_site: dict[str, str],
    browser: Any,  # noqa: F811
    language: str,
    size: str,
) -> None:
    web, book = reading_site["web"], reading_site["rtl_item"]
    context, page, errors = _open(browser, web, size, language, f"/items/{book}")
    try:
        page.wait_for_selector(".mirador-viewer", timeout=20_000)
        page.wait_for_function(
            "() => window.tangthuMirador && Object.values("
            "window.tangthuMirador.store.getState().windows)[0].canvasId",
            timeout=20_000,
        )
        # The collection's order: a neighbour or two, each a link to a visible item.
        neighbours = page.locator(".item-neighbours a")
        assert neighbours.count() >= 1
        labels = " ".join(neighbours.nth(i).inner_text() for i in range(neighbours.count()))
        assert NEXT_ITEM[language] in labels or PREVIOUS_ITEM[language] in labels
        panel = page.locator("#page-text")
        assert panel.locator("h2").inner_text() == PANEL[language]
        body = panel.locator(".page-text-body")
        # Mirador opens at the first page, which has no text: the panel follows it.
        page.wait_for_function(
            "() => !document.querySelector('#page-text').hasAttribute('aria-busy')"
            " && document.querySelector('#page-text-number').value === '1'",
            timeout=10_000,
        )
        assert body.inner_text() == NO_TEXT[language]
        # The panel's own "next page" turns Mirador's page as well.
        panel.locator(".text-next").click()
        page.wait_for_function(
            "() => document.querySelector('#page-text-number').value === '2'"
            " && document.querySelector('.page-text-body').textContent.includes('第')",
            timeout=10_000,
        )
        assert body.inner_text().strip() == _page_words(2)
        assert (
            page.evaluate(
                "() => getComputedStyle(document.querySelector('.page-text-body')).writingMode"
            )
            == "vertical-rl"
        )
        image = page.evaluate("() => document.querySelector('#page-text').dataset.image")
        page.wait_for_function(
            f"() => (Object.values(window.tangthuMirador.store.getState().windows)[0].canvasId"
            f" || '').endsWith('/canvas/{image}')",
            timeout=10_000,
        )
        # Turning the page in Mirador (to the fourth page) brings that page's text.
        page.evaluate(
            """async () => {
              const panel = document.querySelector("#page-text");
              const fourth = await (await fetch(panel.dataset.url + "?page=4")).json();
              const store = window.tangthuMirador.store;
              const windowId = Object.keys(store.getState().windows)[0];
              const canvas = store.getState().windows[windowId].canvasId;
              const target = canvas.split("/canvas/")[0] + "/canvas/" + fourth.image;
              store.dispatch(Mirador.setCanvas(windowId, target));  // Mirador 4's own action
            }"""
        )
        page.wait_for_function(
            "() => document.querySelector('#page-text-number').value === '4'", timeout=10_000
        )
        page.wait_for_function(
            "() => !document.querySelector('#page-text').hasAttribute('aria-busy')", timeout=10_000
        )
        assert body.inner_text().strip() == _page_words(4)
        assert _canvas_image(page) == page.evaluate(
            "() => document.querySelector('#page-text').dataset.image"
        )
        assert _fits(page)
        panel.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"item-text-{size}-{language}.png"), full_page=True)
        # Following a neighbour opens that item.
        target = neighbours.first.get_attribute("href")
        neighbours.first.click()
        page.wait_for_url(f"{web}{target}")
        assert page.locator("h1").count() >= 1
        assert errors == []
    finally:
        context.close()
