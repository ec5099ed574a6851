"""Headless Chromium opens an item page and Mirador loads deep-zoom tiles over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TILE = re.compile(r"/iiif/3/[a-z0-9]+/\d+,\d+,\d+,\d+/\d*,\d*/0/default\.jpg$")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_in_mirador(page, url: str, screenshot: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """Open an item page, wait until Mirador has drawn two tiles, keep a screenshot, and
    insist that every tile came and no script failed; the tiles' statuses and URLs."""
    tiles: list[tuple[int, str]] = []
    page.on("response", lambda r: tiles.append((r.status, r.url)) if TILE.search(r.url) else None)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    for _ in range(60):
        if sum(1 for status, _ in tiles if status == 200) >= 2:
            break
        page.wait_for_timeout(500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / screenshot))
    assert [s for s, _ in tiles if s != 200] == []
    assert sum(1 for status, _ in tiles if status == 200) >= 2, tiles
    assert errors == []
    return tiles


def test_item_page_shows_mirador_with_zoomable_tiles(site: dict[str, str], browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    open_in_mirador(page, f"{site['web']}/items/{site['rtl_item']}", "item-page.png")
    page.close()


def test_home_page_links_to_the_sample_items(site: dict[str, str], browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(site["web"] + "/")
    page.click(f"a[href='/items/{site['rtl_item']}']")
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    assert page.url.endswith(f"/items/{site['rtl_item']}")
    page.close()


def sign_in(page, web: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{web}/auth/login")
    page.fill("input[name=username]", "thuthu")
    page.fill("input[name=password]", "mat-khau-thu-thu")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{web}/")


def test_curator_uploads_pages_and_sees_progress_per_file(
    site: dict[str, str],
    browser,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from tests.helpers import draw_grid_image

    files = []
    for name in ("trang 10.png", "trang 2.png", "trang 1.png", "hong.jpg"):
        path = tmp_path / name
        if name == "hong.jpg":
            path.write_text("not an image")
        else:
            draw_grid_image(600, 800).pngsave(str(path))
        files.append(str(path))
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    sign_in(page, site["web"])
    page.goto(f"{site['web']}/admin/items/new")
    page.fill("input[name=title_vi]", "Sách thử")
    page.click("main button[type=submit]")
    page.wait_for_url("**/pages")
    page.set_input_files("input[type=file]", files)
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#uploads .status-failed", timeout=30_000)
    page.wait_for_function(
        "() => document.querySelectorAll('.pages-grid img').length === 3", timeout=30_000
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-upload.png"), full_page=True)
    labels = [
        field.input_value() for field in page.locator(".pages-grid input[name^=label-]").all()
    ]
    assert labels == ["trang 1", "trang 2", "trang 10"]
    failed = page.locator("#uploads tr", has_text="hong.jpg").inner_text()
    assert "is not an accepted image" in failed
    page.close()


def test_mirador_shows_every_canvas_right_to_left(site: dict[str, str], browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{site['web']}/items/{site['rtl_item']}")
    page.wait_for_selector(".mirador-thumbnail-nav-canvas-1", timeout=20_000)
    cells = page.evaluate(
        """() => Array.from(document.querySelectorAll('.mirador-thumbnail-nav-canvas'))
               .map(c => [c.innerText.trim().split('\\n'), c.getBoundingClientRect().x])"""
    )
    labels = [label for names, _ in cells for label in names]
    assert labels == [f"tờ {n}" for n in range(1, 7)]
    xs = [x for _, x in cells]
    assert xs == sorted(xs, reverse=True), "the first page must be on the right"
    page.close()


def test_universal_viewer_shows_every_canvas_right_to_left(site: dict[str, str], browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    manifest = f"{site['web']}/iiif/{site['rtl_item']}/manifest"
    page.goto(f"{site['web']}/viewer/uv?manifest={manifest}")
    # A function, not an expression: Playwright evaluates expressions with eval(), which
    # the pages' Content-Security-Policy forbids.
    page.wait_for_function("() => document.querySelectorAll('.thumb').length === 6")
    thumbs = page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('.thumb'))
               .map(t => [t.innerText.trim(), t.getBoundingClientRect().x]))"""
    )
    assert sorted(thumbs) == [f"tờ {n}" for n in range(1, 7)]
    assert thumbs["tờ 2"] > thumbs["tờ 3"], "a right-to-left spread puts page 2 on the right"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "universal-viewer.png"))
    assert errors == []
    page.close()


def test_a_reader_signs_in_through_mirador_to_see_a_restricted_item(
    site: dict[str, str],
    browser,  # type: ignore[no-untyped-def]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    tiles: list[tuple[int, str]] = []
    page.on("response", lambda r: tiles.append((r.status, r.url)) if TILE.search(r.url) else None)
    # The item page itself now offers one sign-in path of its own
    # (tests/test_browser_restricted_path.py); a partner's embedded Mirador still meets
    # the 401 and signs the reader in through IIIF Auth.
    manifest = f"{site['web']}/iiif/{site['restricted_item']}/manifest"
    page.goto(f"{site['web']}/viewer/embed?manifest={manifest}")
    # 1. Mirador meets the 401 and offers the Auth 1.0 login service.
    page.get_by_role("button", name=re.compile("continue", re.I)).click(timeout=20_000)
    login = page.locator("button", has_text="Đăng nhập / Sign in")
    login.wait_for(timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "auth-prompt.png"))
    assert not any(status == 200 for status, _ in tiles)
    # 2. The reader signs in through the pop-up window, which then closes itself.
    with page.expect_popup() as opened:
        login.click()
    popup = opened.value
    popup.wait_for_selector("input[name=username]")
    popup.fill("input[name=username]", "docgia")
    popup.fill("input[name=password]", "mat-khau-doc-gia")
    popup.click("main button[type=submit]")
    popup.wait_for_event("close", timeout=20_000)
    # 3. Mirador fetches a token, retries info.json, and the tiles load.
    for _ in range(60):
        if any(status == 200 for status, _ in tiles):
            break
        page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "auth-signed-in.png"))
    assert any(status == 200 for status, _ in tiles), tiles
    # 4. After signing out, the same tile requests are refused.
    tile_url = next(url for status, url in tiles if status == 200)
    page.goto(f"{site['web']}/")
    page.click("header form[action$='/auth/logout'] button")  # Sign out
    page.wait_for_url(f"{site['web']}/")
    assert context.request.get(tile_url).status == 401
    context.close()


def test_a_curator_builds_and_publishes_an_item_then_a_visitor_finds_it(
    site: dict[str, str],
    browser,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from tests.helpers import draw_grid_image

    files = []
    for number in (1, 2, 3):
        path = tmp_path / f"to {number}.png"
        draw_grid_image(500 + number, 700).pngsave(str(path))
        files.append(str(path))
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="en-GB")
    sign_in(page, site["web"])
    # A collection, with its bilingual title.
    page.goto(f"{site['web']}/admin/collections/new")
    page.fill("input[name=slug]", "dia-chi")
    page.fill("input[name=title_vi]", "Địa chí Huế")
    page.fill("input[name=title_en]", "Huế gazetteers")
    page.check("input[name=featured]")
    page.click("main button[type=submit]")
    # An item in it, then three pages uploaded with their progress bars.
    page.goto(f"{site['web']}/admin/items/new")
    page.select_option("select[name=collection]", "dia-chi")
    page.fill("input[name=title_vi]", "Đại Nam nhất thống chí")
    page.click("main button[type=submit]")
    page.wait_for_url("**/pages")
    page.set_input_files("#upload-form input[type=file]", files)
    page.click("#upload-form button[type=submit]")
    page.wait_for_function(
        "() => document.querySelectorAll('.pages-grid img').length === 3", timeout=30_000
    )
    # Reorder with the keyboard alternative: move the first page one step later.
    page.locator(".pages-grid .page").first.locator("button[value^=down]").click()
    page.wait_for_url("**#arrange")
    labels = [f.input_value() for f in page.locator(".pages-grid input[name^=label-]").all()]
    assert labels == ["to 2", "to 1", "to 3"]
    # Publish from the catalogue record.
    page.click("text=Catalogue record")
    page.click(".workflow button[type=submit]")
    page.wait_for_load_state()
    assert "Published" in page.inner_text(".status")
    page.screenshot(path=str(ARTIFACTS / "curator-published.png"), full_page=True)
    page.close()
    # A visitor finds it from the home page, in Vietnamese, and opens it in Mirador.
    visitor = browser.new_page(viewport={"width": 1200, "height": 900}, locale="vi-VN")
    visitor.goto(site["web"] + "/")
    assert "Bộ sưu tập tiêu biểu" in visitor.inner_text("main")
    visitor.click("text=Đại Nam nhất thống chí")
    visitor.wait_for_selector(".mirador-viewer", timeout=20_000)
    assert visitor.locator("html").get_attribute("lang") == "vi"
    assert "Trích dẫn tài liệu này" in visitor.inner_text("main")
    visitor.screenshot(path=str(ARTIFACTS / "visitor-vi.png"))
    visitor.close()


@pytest.mark.parametrize("path", ["/", "/search?q=kieu", "/auth/login"])
def test_phone_width_pages_do_not_scroll_sideways(
    site: dict[str, str],
    browser,
    path: str,  # type: ignore[no-untyped-def]
) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 740}, locale="vi-VN")
    page.goto(site["web"] + path)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, (path, width)
    page.close()


def test_item_page_on_a_phone(site: dict[str, str], browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 360, "height": 740}, locale="vi-VN")
    page.goto(f"{site['web']}/items/{site['rtl_item']}")
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    # Mirador fills its box: the site's own styles must not squeeze its <main>.
    width = page.evaluate("() => document.querySelector('.mirador-viewer').offsetWidth")
    assert width > 300, width
    page.screenshot(path=str(ARTIFACTS / "item-phone.png"), full_page=True)
    page.close()


def _highlighted_pixels(png: bytes) -> int:
    """Pixels of paper under Mirador's yellow search highlight (paper is 246,241,228)."""
    import pyvips

    image = pyvips.Image.new_from_buffer(png, "")[0:3]
    r, g, b = image[0], image[1], image[2]
    mask = (r > 235) & (g > 228) & (b < 190) & (b > 120)
    return int(mask.avg() / 255 * image.width * image.height)


def test_a_researcher_searches_inside_a_book_in_mirador(site: dict[str, str], browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    searches: list[tuple[int, str]] = []
    page.on(
        "response", lambda r: searches.append((r.status, r.url)) if "/search" in r.url else None
    )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site['web']}/items/{site['text_item']}")
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    page.get_by_role("button", name="Toggle sidebar").first.click()
    page.get_by_role("tab", name="Search").click()
    box = page.get_by_role("combobox", name="search terms")
    box.fill("nguyen dinh chieu")
    page.get_by_role("button", name="Submit search").click()
    hit = page.locator("aside li").filter(has=page.locator("strong", has_text="Nguyễn Đình Chiểu"))
    hit.first.wait_for(timeout=20_000)
    assert page.locator("aside").get_by_text("1 of 1").count() >= 1  # the one hit
    assert any(status == 200 and "/search/1?q=" in url for status, url in searches), searches
    # Mirador turns to the page of the hit and paints a highlight over the words.
    highlighted = 0
    for _ in range(40):
        page.wait_for_timeout(500)
        highlighted = _highlighted_pixels(page.screenshot())
        if highlighted > 500:
            break
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "mirador-content-search.png"))
    assert highlighted > 500
    assert errors == []
    page.close()


CLOVER_VIEWPORT = "[data-testid=clover-iiif-image-openseadragon-viewport]"


def _paper_pixels(png: bytes) -> int:
    """Pixels of a sample page's parchment (236,222,190 with noise) in a screenshot."""
    import pyvips

    image = pyvips.Image.new_from_buffer(png, "")[0:3]
    r, b = image[0], image[2]
    mask = (r > 200) & (b < 215) & ((r - b) > 25)
    return int(mask.avg() / 255 * image.width * image.height)


def open_in_clover(
    page, site: dict[str, str], item: str
) -> tuple[list[tuple[int, str]], list[str]]:  # type: ignore[no-untyped-def]
    """Clover IIIF (its web component, served from viewer/) on an item's 3.0 manifest; the
    image server's answers and any script errors, as they come."""
    answers: list[tuple[int, str]] = []
    page.on(
        "response",
        lambda r: answers.append((r.status, r.url)) if r.url.startswith(site["image"]) else None,
    )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site['web']}/viewer/clover?manifest={site['web']}/iiif/{item}/manifest")
    page.wait_for_selector(CLOVER_VIEWPORT, timeout=20_000)
    return answers, errors


def test_clover_renders_the_canvas_image_of_an_open_item(site: dict[str, str], browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    answers, errors = open_in_clover(page, site, site["rtl_item"])
    for _ in range(60):
        if any(status == 200 and TILE.search(url) for status, url in answers):
            break
        page.wait_for_timeout(500)
    page.wait_for_timeout(500)  # OpenSeadragon draws the tile on its next frame
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "clover-open.png"))
    assert any(status == 200 and TILE.search(url) for status, url in answers), answers
    assert [(s, u) for s, u in answers if s != 200] == []
    size = page.evaluate(
        f"""() => {{ const c = document.querySelector('{CLOVER_VIEWPORT} canvas');
                    return c ? [c.width, c.height] : [0, 0]; }}"""
    )
    assert min(size) > 0, size
    assert _paper_pixels(page.locator(CLOVER_VIEWPORT).screenshot()) > 10_000
    assert errors == []
    page.close()


def test_clover_shows_a_restricted_item_without_its_images_and_does_not_hang(
    site: dict[str, str],
    browser,  # type: ignore[no-untyped-def]
) -> None:
    """Clover 3 has no IIIF Auth: it never offers the sign-in services. It shows the
    manifest (label, and the summary asking readers to sign in), an empty image area and
    broken thumbnails, at once; the image server refuses every request with 401."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    answers, errors = open_in_clover(page, site, site["restricted_item"])
    for _ in range(40):
        if any(url.endswith("/info.json") for _, url in answers):
            break
        page.wait_for_timeout(500)
    page.wait_for_timeout(1000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "clover-restricted.png"))
    assert any(url.endswith("/info.json") for _, url in answers), answers
    assert answers and {status for status, _ in answers} == {401}, answers
    text = page.inner_text("clover-viewer")
    assert "Châu bản triều Nguyễn" in text and "đăng nhập để xem ảnh" in text
    assert "Loading" not in text
    broken = page.evaluate(
        """() => Array.from(document.querySelectorAll('[data-testid=media-thumbnail-image]'))
               .map(img => img.complete && img.naturalWidth === 0)"""
    )
    assert broken and all(broken), broken
    assert _paper_pixels(page.locator(CLOVER_VIEWPORT).screenshot()) == 0
    assert errors == []
    page.close()
