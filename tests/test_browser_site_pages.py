"""The site's own pages in Chromium, at desktop and phone widths, in Vietnamese and
English: a curator writes the About page and sets the institution's name, logo and
footer; a visitor then finds them from the home page. Screenshots are kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips

from tests.conftest import ARTIFACTS, sample_site
from tests.helpers import curator_in_browser
from tests.test_browser import browser  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1280, 900), "phone": (375, 740)}
NAMES = {"vi": "Thư viện Quốc gia Việt Nam", "en": "National Library of Vietnam"}
ABOUT_LINK = {"vi": "Giới thiệu", "en": "About"}
HOSTILE = "<script>alert('about')</script>"


@pytest.fixture(scope="module")
def pages_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root: Path = tmp_path_factory.mktemp("site-pages")
    with sample_site(root) as served:
        yield served


@pytest.fixture(scope="module")
def logo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logo") / "logo.png"
    drawn = pyvips.Image.black(240, 120, bands=3) + [246, 217, 139]
    drawn.cast("uchar").draw_circle([122, 46, 18], 60, 60, 50, fill=True).pngsave(str(path))
    return path


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_curator_writes_about_and_a_visitor_reads_it(
    pages_site: dict[str, str],
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
    logo: Path,
    language: str,
    size: str,
) -> None:
    web, width = pages_site["web"], SIZES[size][0]
    title = {"vi": f"Về thư viện ({size})", "en": f"About the library ({size})"}
    body = {
        "vi": f"Thư viện lưu giữ châu bản triều Nguyễn.\n\n{HOSTILE} Hỏi: hoi@nlv.gov.vn",
        "en": f"The library keeps the Nguyễn imperial records.\n\n{HOSTILE} Ask: hoi@nlv.gov.vn",
    }
    context, page, errors = curator_in_browser(browser, web, SIZES[size], language)
    page.click("header.site nav a[href='/admin/site']")
    page.fill("#name_vi", NAMES["vi"])
    page.fill("#name_en", NAMES["en"])
    page.fill("#footer_vi", "Số 31 Tràng Thi, Hà Nội\nE-mail: info@nlv.gov.vn")
    page.fill("#footer_en", "31 Trang Thi, Hanoi\nE-mail: info@nlv.gov.vn")
    page.set_input_files("#logo", str(logo))
    page.click("#identity-form button[type=submit]")
    assert page.locator("p.flash").count() == 1
    assert page.locator(".current-logo img").get_attribute("alt") == NAMES[language]
    page.screenshot(path=str(ARTIFACTS / f"site-settings-{size}-{language}.png"), full_page=True)
    page.click("#edit-about")
    for lang in ("vi", "en"):
        page.fill(f"#title_{lang}", title[lang])
        page.fill(f"#body_{lang}", body[lang])
    page.screenshot(path=str(ARTIFACTS / f"site-about-edit-{size}-{language}.png"), full_page=True)
    page.click("#site-page-form button[type=submit]")
    assert page.locator("p.flash").count() == 1
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    context.close()

    visitor = browser.new_context(
        viewport={"width": width, "height": SIZES[size][1]},
        locale="vi-VN" if language == "vi" else "en-US",
    )
    reader = visitor.new_page()
    dialogs: list[str] = []
    reader.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    reader.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    reader.goto(f"{web}/")
    brand = reader.locator("header.site a.brand img")
    assert brand.get_attribute("alt") == NAMES[language]
    assert (
        reader.evaluate("(img) => img.complete && img.naturalWidth", brand.element_handle()) == 240
    )
    assert NAMES[language] in reader.locator("header.site a.brand").inner_text()
    footer = reader.locator("footer.site")
    assert "info@nlv.gov.vn" in footer.inner_text()
    reader.screenshot(path=str(ARTIFACTS / f"site-home-{size}-{language}.png"), full_page=True)
    footer.get_by_role("link", name=ABOUT_LINK[language], exact=True).click()
    reader.wait_for_url(f"{web}/about")
    assert reader.locator("main h1").inner_text() == title[language]
    text = reader.locator("article.site-page").inner_text()
    assert body[language].split("\n")[0] in text and HOSTILE in text  # shown, never run
    assert reader.locator("article.site-page a[href='mailto:hoi@nlv.gov.vn']").count() == 1
    assert reader.evaluate("() => document.documentElement.scrollWidth") <= width
    reader.screenshot(path=str(ARTIFACTS / f"site-about-{size}-{language}.png"), full_page=True)
    visitor.close()
    assert dialogs == []
    assert not [e for e in errors if "Content Security Policy" in e], errors
