"""The public item page speaks plainly: labelled Dublin Core, language names, the rights
statement, the reading direction, one <h1>, a permalink; and, for a restricted item, one
banner in the page's language with one way to sign in that comes back to the item."""

from __future__ import annotations

import html as html_text
import re
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import Item
from tests.helpers import csrf_token

EN = {"Accept-Language": "en"}
VI = {"Accept-Language": "vi"}


def _ingest(runner: FlaskCliRunner, app: Flask, make_pages, name: str = "pages") -> str:  # type: ignore[no-untyped-def]
    folder = make_pages(count=1, width=300, height=200, name=name)
    result = runner.invoke(
        args=["ingest", str(folder), "--collection", "sach", "--title", "Sách mẫu", "--publish"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        return (
            db.session.execute(db.select(Item.id).order_by(Item.created_at.desc(), Item.id.desc()))
            .scalars()
            .first()
        )  # type: ignore[return-value]


@pytest.fixture
def item_id(runner: FlaskCliRunner, app: Flask, make_pages) -> str:  # type: ignore[no-untyped-def]
    """A published open item described in Dublin Core, in Hán."""
    found = _ingest(runner, app, make_pages)
    with app.app_context():
        item = db.session.get(Item, found)
        assert item is not None
        item.dc = {
            "creator": [{"value": "Ngô Sĩ Liên", "lang": "vi"}],
            "date": [{"value": "Chính Hòa năm thứ 18"}],
            "subject": [{"value": "Lịch sử Việt Nam", "lang": "vi"}],
            "language": [{"value": "lzh"}, {"value": "vi-Hani"}],
            "identifier": [{"value": "A.3"}],
            "publisher": [{"value": "Quốc Tử Giám"}],
            "coverage": [{"value": "Đại Việt"}],
        }
        item.rights = "http://rightsstatements.org/vocab/NoC-US/1.0/"
        db.session.commit()
    return found


@pytest.fixture
def restricted_id(runner: FlaskCliRunner, app: Flask, make_pages) -> str:  # type: ignore[no-untyped-def]
    """A published item for signed-in readers (its collection names no reader group)."""
    found = _ingest(runner, app, make_pages, name="restricted")
    assert runner.invoke(args=["access", found, "restricted"]).exit_code == 0
    return found


def _definition(page: str, term: str) -> str:
    """The text of the <dd> after the <dt> ``term``."""
    match = re.search(rf"<dt>{re.escape(term)}</dt>\s*<dd[^>]*>(.*?)</dd>", page, re.S)
    assert match, f"no {term!r} on the page"
    return html_text.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def _banner(page: str) -> str:
    match = re.search(r'<section class="access-banner".*?</section>', page, re.S)
    assert match, "no access banner"
    return match.group(0)


@pytest.mark.parametrize(
    ("headers", "labels"),
    [
        (
            EN,
            {
                "Creator": "Ngô Sĩ Liên",
                "Date": "Chính Hòa",
                "Subjects": "Lịch sử",
                "Call number": "A.3",
                "Publisher": "Quốc Tử Giám",
                "Coverage": "Đại Việt",
                "Language": "Classical Chinese (Hán) (lzh); Vietnamese in chữ Nôm (vi-Hani)",
            },
        ),
        (
            VI,
            {
                "Tác giả": "Ngô Sĩ Liên",
                "Thời gian": "Chính Hòa",
                "Chủ đề": "Lịch sử",
                "Ký hiệu": "A.3",
                "Nơi xuất bản": "Quốc Tử Giám",
                "Phạm vi": "Đại Việt",
                "Ngôn ngữ": "Hán văn (lzh); Chữ Nôm (vi-Hani)",
            },
        ),
    ],
)
def test_dublin_core_is_labelled_in_the_pages_language_with_no_raw_key(
    client: FlaskClient, item_id: str, headers: dict[str, str], labels: dict[str, str]
) -> None:
    page = client.get(f"/items/{item_id}", headers=headers).get_data(as_text=True)
    for label, value in labels.items():
        assert value in _definition(page, label), label
    terms = re.findall(r"<dt>([^<]*)</dt>", page)
    for key in ("creator", "date", "subject", "language", "identifier", "publisher", "coverage"):
        assert key not in terms, key
    assert not re.search(r">\s*(lzh|vi-Hani)\s*<", page)  # a code never stands alone


@pytest.mark.parametrize(
    ("headers", "term"), [(EN, "Rights statement"), (VI, "Tuyên bố bản quyền")]
)
def test_the_rights_statement_is_shown_as_a_link(
    app: Flask, client: FlaskClient, item_id: str, headers: dict[str, str], term: str
) -> None:
    uri = "http://rightsstatements.org/vocab/NoC-US/1.0/"
    page = client.get(f"/items/{item_id}", headers=headers).get_data(as_text=True)
    assert _definition(page, term) == uri
    assert f'<a href="{uri}" rel="license">' in page
    with app.app_context():  # a statement in words is shown as words
        item = db.session.get(Item, item_id)
        assert item is not None
        item.rights = "Bản quyền thuộc Thư viện"
        db.session.commit()
    page = client.get(f"/items/{item_id}", headers=headers).get_data(as_text=True)
    assert _definition(page, term) == "Bản quyền thuộc Thư viện"
    assert 'rel="license"' not in page


def test_the_reading_direction_is_named_for_every_viewing_direction(
    app: Flask, client: FlaskClient, item_id: str
) -> None:
    names = {
        "left-to-right": ("Left to right", "Từ trái sang phải"),
        "right-to-left": ("Right to left", "Từ phải sang trái"),
        "top-to-bottom": ("Top to bottom", "Từ trên xuống dưới"),
        "bottom-to-top": ("Bottom to top", "Từ dưới lên trên"),
    }
    for direction, (english, vietnamese) in names.items():
        with app.app_context():
            item = db.session.get(Item, item_id)
            assert item is not None
            item.viewing_direction = direction
            db.session.commit()
        page = client.get(f"/items/{item_id}", headers=EN).get_data(as_text=True)
        assert _definition(page, "Reading direction") == english, direction
        page = client.get(f"/items/{item_id}", headers=VI).get_data(as_text=True)
        assert _definition(page, "Chiều đọc") == vietnamese, direction


def test_the_page_has_a_permalink(client: FlaskClient, item_id: str) -> None:
    page = client.get(f"/items/{item_id}", headers=EN).get_data(as_text=True)
    url = f"http://127.0.0.1:8000/items/{item_id}"
    assert _definition(page, "Permalink") == url
    assert f'<a href="{url}" rel="bookmark">' in page


def test_a_restricted_item_has_one_h1_and_a_lock_instead_of_broken_pages(
    client: FlaskClient, restricted_id: str
) -> None:
    """Mirador brings a heading of its own (an <h1> for its workspace), and for a reader
    who may not see the pages it would show only refusals and broken thumbnails."""
    page = client.get(f"/items/{restricted_id}", headers=EN).get_data(as_text=True)
    assert len(re.findall(r"<h1[\s>]", page)) == 1
    assert "data-manifest=" not in page and "mirador.min.js" not in page
    assert 'class="viewer locked-viewer"' in page and 'class="locked"' in page
    assert "/iiif/3/" not in page  # no image of it is linked, not even for sharing


@pytest.mark.parametrize(
    ("headers", "expected", "foreign"),
    [
        (
            EN,
            [
                "Restricted item",
                "Signed-in readers may read this item.",
                "Sign in to read this item",
            ],
            ["Đăng nhập", "Tài liệu", "đọc"],
        ),
        (
            VI,
            [
                "Tài liệu hạn chế",
                "Bạn đọc đã đăng nhập được đọc tài liệu này.",
                "Đăng nhập để đọc tài liệu này",
            ],
            ["Sign in", "Restricted", "read"],
        ),
    ],
)
def test_the_restricted_banner_speaks_one_language(
    client: FlaskClient,
    restricted_id: str,
    headers: dict[str, str],
    expected: list[str],
    foreign: list[str],
) -> None:
    banner = _banner(client.get(f"/items/{restricted_id}", headers=headers).get_data(as_text=True))
    words = html_text.unescape(re.sub(r"<[^>]+>", " ", banner))
    for text in expected:
        assert text in words
    for text in foreign:
        assert text not in words
    assert len(re.findall(r"<a ", banner)) == 1  # one way in


def test_signing_in_from_the_banner_or_the_header_comes_back_to_the_item(
    runner: FlaskCliRunner, client: FlaskClient, restricted_id: str
) -> None:
    result = runner.invoke(args=["create-user", "docgia", "--password", "mat-khau-doc-gia"])
    assert result.exit_code == 0, result.output
    page = client.get(f"/items/{restricted_id}", headers=EN).get_data(as_text=True)
    banner_link = re.search(r'href="([^"]+)"', _banner(page))
    header_link = re.search(r'<a class="sign-in" href="([^"]+)"', page)
    assert banner_link and header_link
    for link in (banner_link.group(1), header_link.group(1)):
        link = html_text.unescape(link)
        assert unquote(link) == f"/auth/login?next=/items/{restricted_id}", link
    login = html_text.unescape(banner_link.group(1))
    token = csrf_token(client.get(login).get_data(as_text=True))
    response = client.post(
        login, data={"username": "docgia", "password": "mat-khau-doc-gia", "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/items/{restricted_id}"
    page = client.get(f"/items/{restricted_id}", headers=EN).get_data(as_text=True)
    assert "access-banner" not in page and "data-manifest=" in page  # the reader reads it


def test_the_header_sign_in_keeps_the_page_and_its_query(client: FlaskClient) -> None:
    page = client.get("/search?q=ki%E1%BB%81u", headers=EN).get_data(as_text=True)
    link = re.search(r'<a class="sign-in" href="([^"]+)"', page)
    assert link, "no sign-in link in the header"
    assert unquote(html_text.unescape(link.group(1))) == "/auth/login?next=/search?q=ki%E1%BB%81u"
