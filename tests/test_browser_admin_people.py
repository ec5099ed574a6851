"""People and reader groups in Chromium: a curator finds a reader and adds them to a
reader group, at desktop and phone widths, in Vietnamese and English; screenshots are kept
in tests/artifacts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from tests.conftest import ARTIFACTS, sample_site
from tests.helpers import curator_in_browser
from tests.test_browser import browser  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1280, 900), "phone": (375, 812)}
HEADING = {"vi": "Người dùng", "en": "People"}
ADDED = {"vi": "đã vào nhóm han-nom", "en": "is now in the group han-nom"}
GROUP_LABEL = {"vi": "Nhóm Hán Nôm", "en": "Hán-Nôm researchers"}


def _reader(size: str, language: str) -> str:
    return f"ban-doc-{size}-{language}"


def _people(runner: FlaskCliRunner, ids: dict[str, str]) -> None:
    """A reader group, and one reader for each width and language, in no group yet."""
    for args in (
        ["group", "add", "han-nom", "--label-vi", "Nhóm Hán Nôm"]
        + ["--label-en", "Hán-Nôm researchers"],
        *(
            ["create-user", "--reader", _reader(size, language), "--password", "mat-khau-ban-doc"]
            for size in SIZES
            for language in HEADING
        ),
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def people_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root: Path = tmp_path_factory.mktemp("admin-people")
    with sample_site(root, prepare=_people) as served:
        yield served


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_curator_adds_a_reader_to_a_group(
    people_site: dict[str, str],
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
    language: str,
    size: str,
) -> None:
    web = people_site["web"]
    width = SIZES[size][0]
    reader = _reader(size, language)
    context, page, refused = curator_in_browser(browser, web, SIZES[size], language)

    page.goto(f"{web}/admin/")
    page.click("nav.admin-subnav a[href$='/admin/people']")
    page.wait_for_url("**/admin/people")
    assert page.locator("h1").inner_text() == HEADING[language]
    page.fill("#people-q", reader)
    page.click("form.people-search button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/people\?q="))
    rows = page.locator("#people tbody tr")
    assert rows.count() == 1
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(ARTIFACTS / f"admin-people-{size}-{language}.png"), full_page=True)

    rows.first.locator("a").click()
    page.wait_for_url(re.compile(r"/admin/people/\d+$"))
    assert page.locator("h1").inner_text() == reader
    page.select_option("#join-group select[name=group]", label=GROUP_LABEL[language])
    page.click("#join-group button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/people/\d+$"))
    assert ADDED[language] in page.locator(".flash").inner_text()
    assert GROUP_LABEL[language] in page.locator(".people-groups").inner_text()
    assert page.locator("#join-group").count() == 0  # no other group to offer
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.screenshot(
        path=str(ARTIFACTS / f"admin-people-added-{size}-{language}.png"), full_page=True
    )

    page.goto(f"{web}/admin/people?q={reader}")
    assert "han-nom" in page.locator("#people tbody tr").first.inner_text()
    assert not [text for text in refused if "Content Security Policy" in text], refused
    context.close()
