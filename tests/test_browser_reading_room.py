"""The reading room in Chromium: an on-site item opens in Mirador with no sign-in, because
both apps see the request come from the reading room's network (here, loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from tests.conftest import sample_site
from tests.test_browser import browser, open_in_mirador  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser


def _onsite(runner: FlaskCliRunner, ids: dict[str, str]) -> None:
    result = runner.invoke(args=["access", ids["restricted_item"], "onsite"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def reading_room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The sample served to a reading room that is this machine's loopback network."""
    root: Path = tmp_path_factory.mktemp("reading-room")
    with sample_site(root, {"TANGTHU_ONSITE_RANGES": "127.0.0.0/8"}, _onsite) as served:
        yield served


def test_an_onsite_item_opens_in_the_reading_room_without_signing_in(
    reading_room: dict[str, str],
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    item = f"{reading_room['web']}/items/{reading_room['restricted_item']}"
    open_in_mirador(page, item, "reading-room.png")
    # No sign-in was offered, and nothing portable was handed out for it.
    assert page.locator("button", has_text="Đăng nhập / Sign in").count() == 0
    assert not [c for c in context.cookies() if c["name"] == "tangthu_access"]
    context.close()
