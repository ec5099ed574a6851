"""A curator in headless Chromium: an item created, described, given three pages and
published in a few clicks (counted), edits that are never silently lost, and failed
uploads that look failed."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.test_browser import browser  # noqa: F401  (the module's Chromium)

MAX_CLICKS = 12

pytestmark = pytest.mark.browser


@pytest.fixture
def clicks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every button or link pressed through Playwright, by page.click or locator.click."""
    from playwright.sync_api import Locator, Page

    pressed: list[str] = []
    page_click, locator_click = Page.click, Locator.click

    def on_page(self: Page, selector: str, **options: Any) -> None:
        pressed.append(selector)
        page_click(self, selector, **options)

    def on_locator(self: Locator, **options: Any) -> None:
        pressed.append(repr(self))
        locator_click(self, **options)

    monkeypatch.setattr(Page, "click", on_page)
    monkeypatch.setattr(Locator, "click", on_locator)
    return pressed


def sign_in(page: Any, web: str) -> None:
    page.goto(f"{web}/auth/login")
    page.fill("input[name=username]", "thuthu")
    page.fill("input[name=password]", "mat-khau-thu-thu")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{web}/")


def page_files(
    folder: Path, names: list[str], body: bytes | None = None, width: int = 480
) -> list[str]:
    """Page images, each of its own size: files already ingested would give the old item."""
    from tests.helpers import draw_grid_image

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for number, name in enumerate(names, start=1):
        path = folder / name
        if body is not None:
            path.write_bytes(body)
        else:
            draw_grid_image(width + number, 640).pngsave(str(path))
        files.append(str(path))
    return files


def anonymous(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_a_curator_creates_describes_uploads_and_publishes_in_at_most_12_clicks(
    site: dict[str, str],
    browser: Any,  # noqa: F811
    clicks: list[str],
    tmp_path: Path,
) -> None:
    web = site["web"]
    files = page_files(tmp_path, ["to 1.png", "to 2.png", "to 3.png"])
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-GB")
    started = time.monotonic()
    sign_in(page, web)
    page.click("header a[href='/admin/']")
    page.click("main a[href='/admin/items/new']")
    page.select_option("select[name=collection]", "mau")  # the sample's open collection
    page.fill("input[name=title_vi]", "Hồng Đức quốc âm thi tập")
    page.fill("input[name=title_en]", "Hồng Đức poems in the national script")
    page.fill("textarea[name=dc_creator]", "Lê Thánh Tông")
    page.set_input_files("input[name=pages]", files)
    page.click("button[name=publish]")
    page.wait_for_url(re.compile(r"/admin/items/(?!new$)[a-z0-9]+$"))
    elapsed = time.monotonic() - started
    assert "Published" in page.inner_text("p.status")
    assert page.input_value("textarea[name=dc_creator]") == "Lê Thánh Tông"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "curator-created-and-published.png"), full_page=True)
    item_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.close()
    assert len(clicks) <= MAX_CLICKS, clicks
    assert elapsed < 60, f"{elapsed:.1f} s"
    (ARTIFACTS / "curator-clicks.json").write_text(
        json.dumps({"clicks": len(clicks), "pressed": clicks, "seconds": round(elapsed, 1)})
    )
    # The public sees it, with its three pages, without signing in.
    status, _body = anonymous(f"{web}/items/{item_id}")
    assert status == 200
    status, body = anonymous(f"{web}/iiif/{item_id}/manifest")
    assert status == 200
    manifest = json.loads(body)
    assert len(manifest["items"]) == 3
    assert "Lê Thánh Tông" in json.dumps(manifest["metadata"], ensure_ascii=False)


@pytest.mark.parametrize("locale", ["vi-VN", "en-GB"])
def test_the_new_item_form_at_desktop_and_phone_widths(
    site: dict[str, str],
    browser: Any,  # noqa: F811
    locale: str,
) -> None:
    language = locale[:2]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    page = context.new_page()
    sign_in(page, site["web"])
    page.goto(f"{site['web']}/admin/items/new")
    publish = {"vi": "Tạo và công bố", "en": "Create and publish"}[language]
    assert page.inner_text("button[name=publish]").strip() == publish
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        box = page.locator("#item-form").bounding_box()
        assert box is not None and box["x"] + box["width"] <= width, (width, box)
        for button in page.locator("#item-form .form-buttons button").all():
            shown = button.bounding_box()
            assert shown is not None and shown["x"] + shown["width"] <= width, (width, shown)
        page.screenshot(
            path=str(ARTIFACTS / f"curator-new-item-{language}-{width}.png"), full_page=True
        )
    context.close()


def draft_with_pages(page: Any, web: str, files: list[str], title: str) -> str:
    """A draft item made through the new-item form ("Create"): its id."""
    page.goto(f"{web}/admin/items/new")
    page.fill("input[name=title_vi]", title)
    page.set_input_files("input[name=pages]", files)
    page.click("main button[type=submit]")
    page.wait_for_url("**/pages")
    return str(page.url.rsplit("/", 2)[1])


def test_save_and_publish_keeps_what_was_typed_and_leaving_warns(
    site: dict[str, str],
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    web = site["web"]
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    sign_in(page, web)
    item_id = draft_with_pages(page, web, page_files(tmp_path, ["a.png"], width=520), "Sách nháp")
    page.goto(f"{web}/admin/items/{item_id}")
    assert page.inner_text("nav.actions a[href$='/pages']") == "Quản lý trang"
    # Typed, then leaving: the browser asks first (it asks only after a real gesture).
    page.click("textarea[name=dc_creator]")
    page.fill("textarea[name=dc_creator]", "Nguyễn Trãi")
    dialogs: list[str] = []

    def answer(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", answer)
    page.evaluate("window.location.href = '/'")
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
    assert page.url.endswith(f"/admin/items/{item_id}")
    # Saving and publishing does not ask, keeps the creator and publishes.
    with page.expect_navigation():
        page.click("button[name=publish]")
    assert "Đã công bố" in page.inner_text("p.status")
    assert page.input_value("textarea[name=dc_creator]") == "Nguyễn Trãi"
    assert dialogs == ["beforeunload"]
    status, body = anonymous(f"{web}/iiif/{item_id}/manifest")
    assert status == 200 and "Nguyễn Trãi" in body.decode()
    page.close()


def test_a_failed_upload_looks_failed(
    site: dict[str, str],
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    web = site["web"]
    page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="en-GB")
    sign_in(page, web)
    item_id = draft_with_pages(page, web, page_files(tmp_path, ["good.png"], width=540), "Sách lỗi")
    assert page.url.endswith(f"/admin/items/{item_id}/pages")
    (more,) = page_files(tmp_path / "more", ["fine.png"], width=560)
    (broken,) = page_files(tmp_path / "more", ["broken.jpg"], body=b"not an image")
    page.set_input_files("#upload-form input[type=file]", [more, broken])
    with page.expect_navigation(timeout=60_000):  # the page reloads once both are processed
        page.click("#upload-form button[type=submit]")
    row = page.locator("#uploads tr", has_text="broken.jpg").first
    row.locator("progress.failed").wait_for(timeout=10_000)
    assert "Not added" in row.locator("td.bar").inner_text()
    colour = row.locator("td.bar").evaluate("cell => getComputedStyle(cell).color")
    assert colour == "rgb(165, 29, 45)"
    fine = page.locator("#uploads tr", has_text="fine.png").first
    fine.locator(".status-done").wait_for(timeout=10_000)
    assert fine.locator("progress.failed").count() == 0
    assert "Not added" not in fine.inner_text()
    page.screenshot(path=str(ARTIFACTS / "curator-failed-upload.png"), full_page=True)
    page.close()


def test_a_page_is_deleted_after_confirming_and_another_replaced(
    site: dict[str, str],
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    web = site["web"]
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-GB")
    sign_in(page, web)
    files = page_files(tmp_path, ["p1.png", "p2.png", "p3.png"], width=580)
    item_id = draft_with_pages(page, web, files, "Sách ba trang")
    labels = [f.input_value() for f in page.locator(".pages-grid input[name^=label-]").all()]
    assert labels == ["p1", "p2", "p3"]
    page.locator(".pages-grid .page").nth(1).locator("a.delete-page").click()
    assert "Delete the page “p2”?" in page.inner_text("#page-action")
    with page.expect_navigation():
        page.click("#page-action button.danger")
    assert page.url.endswith(f"/admin/items/{item_id}/pages#arrange")
    labels = [f.input_value() for f in page.locator(".pages-grid input[name^=label-]").all()]
    assert labels == ["p1", "p3"]
    page.locator(".pages-grid .page").first.locator("a.replace-page").click()
    (new_file,) = page_files(tmp_path / "new", ["new-p1.png"], width=600)
    page.set_input_files("#page-action input[type=file]", new_file)
    with page.expect_navigation():
        page.click("#page-action button[type=submit]")
    assert "Page “p1” replaced." in page.inner_text("main")
    labels = [f.input_value() for f in page.locator(".pages-grid input[name^=label-]").all()]
    assert labels == ["p1", "p3"]
    page.select_option("#folio-form select[name=scheme]", "rv")
    with page.expect_navigation():
        page.click("#folio-form button[type=submit]")
    labels = [f.input_value() for f in page.locator(".pages-grid input[name^=label-]").all()]
    assert labels == ["1r", "1v"]
    page.close()
