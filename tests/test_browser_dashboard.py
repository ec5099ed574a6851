"""The digitisation dashboard and usage statistics in Chromium: desktop and phone widths,
Vietnamese and English, with the sample's demo holdings and usage; screenshots are kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from tests.conftest import ARTIFACTS, sample_site
from tests.helpers import curator_in_browser
from tests.test_browser import browser  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser

HEADINGS = {"vi": "Tiến độ số hoá", "en": "Digitisation progress"}
TARGET_ROW = {"vi": "Tài liệu cổ, quý hiếm", "en": "Ancient, rare and specially valuable"}
RESTRICTED = {"vi": "Châu bản", "en": "imperial records"}
SIZES = {"desktop": (1280, 900), "phone": (360, 740)}


def _demo(runner: FlaskCliRunner, ids: dict[str, str]) -> None:
    from repository.services.programme.demo import load_demo

    with runner.app.app_context():
        load_demo()


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root: Path = tmp_path_factory.mktemp("dashboard")
    with sample_site(root, prepare=_demo) as served:
        yield served


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_dashboard_reads_on_desktop_and_phone_in_both_languages(
    demo_site: dict[str, str],
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
    language: str,
    size: str,
) -> None:
    web = demo_site["web"]
    width = SIZES[size][0]
    context, page, refused = curator_in_browser(browser, web, SIZES[size], language)

    page.goto(f"{web}/admin/programme")
    assert page.locator("h1").inner_text() == HEADINGS[language]
    assert TARGET_ROW[language] in page.locator("table.programme").inner_text()
    chart = page.locator("figure.chart svg").first
    box = chart.bounding_box()
    assert box is not None and 0 < box["width"] <= width and box["height"] > 80
    assert page.locator("figure.chart svg rect[height]").count() > 6  # bars and legend
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    # On a phone the columns become labelled rows, and their headings give way.
    assert page.locator("table.programme thead").is_visible() is (size == "desktop")
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{size}-{language}.png"), full_page=True)

    page.goto(f"{web}/admin/usage")
    assert page.locator("figure.chart svg").count() == 1
    assert (
        RESTRICTED[language] in page.locator("main").inner_text()
    )  # curators see the restricted item
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(ARTIFACTS / f"usage-{size}-{language}.png"), full_page=True)

    page.goto(f"{web}/admin/programme/report")
    assert "Tàng Thư" in page.locator("article.report").inner_text()
    page.emulate_media(media="print")
    page.screenshot(path=str(ARTIFACTS / f"programme-report-{size}-{language}.png"), full_page=True)
    assert not [text for text in refused if "Content Security Policy" in text], refused
    context.close()
