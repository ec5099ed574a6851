"""The admin's item list in Chromium: a curator searches, filters and pages it, at desktop
and phone widths, in Vietnamese and English; screenshots are kept in tests/artifacts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskCliRunner

from tests.conftest import ARTIFACTS, sample_site
from tests.helpers import curator_in_browser
from tests.test_browser import browser  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
BOOKS = 70  # drafts in the registers' collection: two pages of fifty
HEADING = {"vi": "Quản trị", "en": "Admin"}
SUMMARY = {"vi": "70 tài liệu", "en": "70 items"}
BADGE = {"vi": "Chỉ nhân viên", "en": "Staff only"}
CONFIRM = {"vi": "Xác nhận thao tác hàng loạt", "en": "Confirm the bulk action"}
WILL_CHANGE = {"vi": "20 tài liệu sẽ thay đổi.", "en": "20 items will change."}


def _registers(runner: FlaskCliRunner, ids: dict[str, str]) -> None:
    """Land registers (địa bạ), staff-only drafts, one minute apart, and one published."""
    from repository.extensions import db
    from repository.models import Collection, Item

    with runner.app.app_context():
        registers = Collection(slug="dia-ba", title={"vi": "Địa bạ", "en": "Land registers"})
        db.session.add(registers)
        db.session.flush()
        for number in range(BOOKS + 1):
            db.session.add(
                Item(
                    collection_id=registers.id,
                    title={"vi": f"Địa bạ xã số {number:03d}"},
                    status="draft" if number < BOOKS else "published",
                    access="staff",
                    updated_at=datetime(2026, 1, 1) + timedelta(minutes=number),
                )
            )
        db.session.commit()


@pytest.fixture(scope="module")
def registers_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root: Path = tmp_path_factory.mktemp("admin-list")
    with sample_site(root, prepare=_registers) as served:
        yield served


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_curator_filters_and_pages_the_item_list(
    registers_site: dict[str, str],
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
    language: str,
    size: str,
) -> None:
    web = registers_site["web"]
    width = SIZES[size][0]
    context, page, refused = curator_in_browser(browser, web, SIZES[size], language)

    page.goto(f"{web}/admin/")
    assert page.locator("h1").inner_text() == HEADING[language]
    assert page.locator("table.item-list tbody tr").count() == 50  # the first page of all
    # Without diacritics, and only the drafts: the published register drops out.
    page.fill("#list-q", "dia ba xa")
    page.select_option("#list-status", "draft")
    page.select_option("#list-sort", "title")
    page.click("form.item-filters button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/\?.*status=draft"))
    assert SUMMARY[language] in page.locator(".list-summary").inner_text()
    rows = page.locator("table.item-list tbody tr")
    assert rows.count() == 50
    assert "Địa bạ xã số 000" in rows.first.inner_text()
    assert BADGE[language] in rows.first.locator(".access-badge").inner_text()
    assert page.locator("#bulk-action").input_value() == ""  # no action chosen for you
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(ARTIFACTS / f"admin-list-{size}-{language}.png"), full_page=True)

    page.click("nav.item-pages a[rel=next]")
    page.wait_for_url("**page=2*")
    kept = parse_qs(urlsplit(page.url).query)
    assert kept == {"q": ["dia ba xa"], "status": ["draft"], "sort": ["title"], "page": ["2"]}
    rows = page.locator("table.item-list tbody tr")
    assert rows.count() == BOOKS - 50
    assert "Địa bạ xã số 050" in rows.first.inner_text()
    assert "Địa bạ xã số 069" in rows.last.inner_text()
    assert page.locator("nav.item-pages [aria-current=page]").inner_text() == "2"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(ARTIFACTS / f"admin-list-page2-{size}-{language}.png"), full_page=True)

    # Every item of the page, one action: a page says what will change, and changes nothing.
    page.check("#pick-all")
    assert page.locator("#bulk input[name=item]:checked").count() == BOOKS - 50
    page.select_option("#bulk-action", "access:open")
    page.click("#bulk button[type=submit]")
    page.wait_for_url("**/admin/items/bulk")
    assert page.locator("h1").inner_text() == CONFIRM[language]
    assert WILL_CHANGE[language] in page.locator("main").inner_text()
    assert page.locator("table.confirm-list tbody tr").count() == BOOKS - 50
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.screenshot(
        path=str(ARTIFACTS / f"admin-list-confirm-{size}-{language}.png"), full_page=True
    )
    page.click("form.confirm-form a.button")  # cancel: back to the same page of the list
    page.wait_for_url("**page=2*")
    assert parse_qs(urlsplit(page.url).query) == kept
    assert page.locator(".access-badge", has_text=BADGE[language]).count() == BOOKS - 50
    assert not [text for text in refused if "Content Security Policy" in text], refused
    context.close()
