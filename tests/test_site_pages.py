"""The site's own pages (about, contact, terms) and the institution's name, logo and
footer, as curators set them in the admin. Real sign-ins, real forms with their CSRF
tokens, real SQLite, real storage and real libvips."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import pyvips
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import event, text

from repository import get_storage
from repository.extensions import db
from repository.models import AuditEvent, SiteIdentity, SitePage
from tests.helpers import csrf_token, sign_in

EN = {"Accept-Language": "en"}
VI = {"Accept-Language": "vi"}
HOSTILE = (
    "<script>alert('body')</script>\n"
    '<img src=x onerror="alert(1)"> javascript:alert(2)\n\n'
    'See https://thuvien.example.vn/gioi-thieu"><script>alert(3)</script> or write to'
    " hoi@thuvien.example.vn."
)


@pytest.fixture
def users(runner: FlaskCliRunner) -> None:
    for role, name in (("--curator", "thuthu"), ("--reader", "docgia")):
        result = runner.invoke(args=["create-user", role, name, "--password", f"mat-khau-{name}"])
        assert result.exit_code == 0, result.output


def _client(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, name, f"mat-khau-{name}")
    return client


@pytest.fixture
def curator(app: Flask, users: None) -> FlaskClient:
    return _client(app, "thuthu")


def _save_page(client: FlaskClient, slug: str, headers: dict[str, str] = EN, **fields: str):  # type: ignore[no-untyped-def]
    form = client.get(f"/admin/site/pages/{slug}", headers=headers).get_data(as_text=True)
    data = {"title_vi": "", "title_en": "", "body_vi": "", "body_en": "", **fields}
    return client.post(
        f"/admin/site/pages/{slug}",
        data={**data, "csrf_token": csrf_token(form)},
        headers=headers,
    )


def _save_identity(  # type: ignore[no-untyped-def]
    client: FlaskClient, headers: dict[str, str] = EN, logo: bytes | None = None, **fields: Any
):
    form = client.get("/admin/site", headers=headers).get_data(as_text=True)
    data: dict[str, Any] = {"name_vi": "", "name_en": "", "footer_vi": "", "footer_en": ""}
    data.update(fields)
    if logo is not None:
        data["logo"] = (io.BytesIO(logo), fields.pop("filename", "logo.png"))
        data.pop("filename", None)
    return client.post(
        "/admin/site",
        data={**data, "csrf_token": csrf_token(form)},
        headers=headers,
        content_type="multipart/form-data",
    )


def _png(width: int = 120, height: int = 60) -> bytes:
    image = pyvips.Image.black(width, height, bands=3) + [122, 46, 18]
    return bytes(image.cast("uchar").pngsave_buffer())


def _stored(app: Flask) -> tuple[list[SiteIdentity], list[str]]:
    with app.app_context():
        rows = list(db.session.execute(db.select(SiteIdentity)).scalars())
        return rows, list(get_storage().keys("site/"))


def _page_text(client: FlaskClient, path: str, headers: dict[str, str]) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_pages_never_written_show_a_default_in_the_readers_language(client: FlaskClient) -> None:
    english = _page_text(client, "/about", EN)
    assert "<h1>About the library</h1>" in english
    assert "Tàng Thư Library keeps old books" in english
    vietnamese = _page_text(client, "/about", VI)
    assert "<h1>Giới thiệu thư viện</h1>" in vietnamese
    assert "Thư viện Tàng Thư lưu giữ" in vietnamese
    assert "<h1>Contact</h1>" in _page_text(client, "/contact", EN)
    assert "<h1>Liên hệ</h1>" in _page_text(client, "/contact", VI)
    assert "<h1>Terms of use</h1>" in _page_text(client, "/terms", EN)
    assert "<h1>Điều khoản sử dụng</h1>" in _page_text(client, "/terms", VI)


def test_a_curators_page_shows_in_both_languages(
    app: Flask, client: FlaskClient, curator: FlaskClient
) -> None:
    response = _save_page(
        curator,
        "about",
        title_vi="Về Thư viện Quốc gia",
        title_en="About the National Library",
        body_vi="Thư viện thành lập năm 1917.\n\nMở cửa từ thứ Hai đến thứ Sáu.",
        body_en="The library was founded in 1917.\r\n\r\nOpen Monday to Friday.",
    )
    assert response.status_code == 302
    vietnamese = _page_text(client, "/about", VI)
    assert "<h1>Về Thư viện Quốc gia</h1>" in vietnamese
    assert "<p>Thư viện thành lập năm 1917.</p>" in vietnamese
    assert "<p>Mở cửa từ thứ Hai đến thứ Sáu.</p>" in vietnamese
    english = _page_text(client, "/about", EN)
    assert "<h1>About the National Library</h1>" in english
    assert "<p>Open Monday to Friday.</p>" in english
    assert "Contact</h1>" in _page_text(client, "/contact", EN)  # the others keep defaults
    with app.app_context():
        page = db.session.execute(db.select(SitePage)).scalar_one()
        assert (page.slug, page.updated_by) == ("about", "thuthu")
        audit = db.session.execute(db.select(AuditEvent).filter_by(action="site-page-saved"))
        assert [(e.actor, e.target) for e in audit.scalars()] == [("thuthu", "about")]


def test_readers_and_strangers_may_not_edit(app: Flask, client: FlaskClient, users: None) -> None:
    for path in ("/admin/site", "/admin/site/pages/about"):
        response = client.get(path)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    reader = _client(app, "docgia")
    token = csrf_token(reader.get("/").get_data(as_text=True))  # the sign-out form's
    for path in ("/admin/site", "/admin/site/pages/about"):
        assert reader.get(path).status_code == 403
        form = {"title_vi": "Bị chiếm", "body_vi": "x", "name_vi": "Bị chiếm", "csrf_token": token}
        assert reader.post(path, data=form).status_code == 403
    assert "/admin/site" not in reader.get("/").get_data(as_text=True)
    assert _stored(app) == ([], [])
    with app.app_context():
        assert db.session.execute(db.select(SitePage)).first() is None


def test_saving_needs_the_csrf_token(app: Flask, curator: FlaskClient) -> None:
    page = {"title_vi": "Giả mạo", "body_vi": "Giả mạo"}
    assert curator.post("/admin/site/pages/about", data=page).status_code == 400
    assert curator.post("/admin/site", data={"name_vi": "Giả mạo"}).status_code == 400
    with app.app_context():
        assert db.session.execute(db.select(SitePage)).first() is None
    assert _stored(app) == ([], [])


def test_only_the_three_pages_exist(curator: FlaskClient) -> None:
    assert curator.get("/admin/site/pages/secret").status_code == 404
    assert curator.get("/admin/site/pages/..%2Fabout").status_code == 404


def test_a_hostile_body_is_shown_as_text(client: FlaskClient, curator: FlaskClient) -> None:
    title = "<b onmouseover=alert(4)>Về chúng tôi</b>"
    assert _save_page(curator, "terms", title_vi=title, body_vi=HOSTILE).status_code == 302
    page = _page_text(client, "/terms", VI)
    article = page[page.index('<article class="site-page"') : page.index("</article>")]
    assert "<script" not in article and "<img" not in article and "<b " not in article
    assert "&lt;script&gt;alert(&#39;body&#39;)&lt;/script&gt;" in article
    assert "&lt;b onmouseover=alert(4)&gt;" in article
    assert 'href="javascript' not in article
    links = re.findall(r"<a [^>]*>", article)
    assert links == [
        '<a href="https://thuvien.example.vn/gioi-thieu" rel="noopener">',
        '<a href="mailto:hoi@thuvien.example.vn" rel="noopener">',
    ]
    assert "hoi@thuvien.example.vn</a>." in article  # the full stop stays in the sentence


def test_a_page_needs_a_title_and_text_said_in_the_curators_language(
    app: Flask, curator: FlaskClient
) -> None:
    english = _save_page(curator, "contact", EN, body_vi="Chỉ có nội dung").get_data(as_text=True)
    assert "Give the page a title, in Vietnamese or English." in english
    vietnamese = _save_page(curator, "contact", VI, title_en="Only a title").get_data(as_text=True)
    assert "Hãy viết nội dung của trang, bằng tiếng Việt hoặc tiếng Anh." in vietnamese
    long = _save_page(curator, "contact", EN, title_vi="T", body_vi="x" * 20_001)
    assert "Field cannot be longer than 20000 characters." in long.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(db.select(SitePage)).first() is None


def test_the_institution_shows_in_every_pages_header_and_footer(
    app: Flask, client: FlaskClient, curator: FlaskClient
) -> None:
    footer = "Số 31 Tràng Thi, Hà Nội\nĐiện thoại: 024 3825 5397\nE-mail: info@nlv.gov.vn"
    response = _save_identity(
        curator,
        logo=_png(),
        name_vi="Thư viện Quốc gia Việt Nam",
        name_en="National Library of Vietnam",
        footer_vi=footer,
        footer_en="31 Trang Thi, Hanoi <script>alert(1)</script>",
    )
    assert response.status_code == 302
    home = _page_text(client, "/", VI)
    logo = re.search(r'<a class="brand"[^>]*><img src="(/site/logo\?v=[0-9a-f]{64})"', home)
    assert logo, home[:2000]
    assert 'alt="Thư viện Quốc gia Việt Nam" width="120" height="60"' in home
    assert "<title>Thư viện Quốc gia Việt Nam</title>" in home
    assert "Số 31 Tràng Thi, Hà Nội<br>" in home
    assert '<a href="mailto:info@nlv.gov.vn" rel="noopener">' in home
    for path, label in (
        ("/about", "Giới thiệu"),
        ("/contact", "Liên hệ"),
        ("/terms", "Điều khoản"),
    ):
        assert f'<a href="{path}">{label}' in home
    english = _page_text(client, "/search", EN)
    assert "<span>National Library of Vietnam</span>" in english
    assert "31 Trang Thi, Hanoi &lt;script&gt;" in english and "<script>alert" not in english
    served = client.get(logo.group(1))
    assert served.status_code == 200 and served.data == _png()
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    again = client.get(logo.group(1), headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304


def test_an_unset_name_falls_back_to_the_configured_one(
    client: FlaskClient, curator: FlaskClient
) -> None:
    assert _save_identity(curator, name_vi="Thư viện Hà Nội").status_code == 302
    assert "<span>Thư viện Hà Nội</span>" in _page_text(client, "/", VI)
    assert "<span>Tàng Thư Library</span>" in _page_text(client, "/", EN)
    assert 'class="brand"' in (page := _page_text(client, "/", EN)) and "<img src=" not in page


def _bomb() -> bytes:
    """A 10,000 × 10,000 PNG of a few kilobytes: 100 million pixels once decoded."""
    return bytes(pyvips.Image.black(10_000, 10_000).pngsave_buffer(bitdepth=1, compression=9))


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(document.cookie)</script></svg>"
)


@pytest.mark.parametrize(
    ("upload", "english", "vietnamese"),
    [
        (_bomb, "The logo is 10000 × 10000 pixels", "Logo có 10000 × 10000 điểm ảnh"),
        (
            lambda: b"MZ\x90\x00 not an image, whatever its name says" * 10,
            "This file is not a PNG, JPEG or WebP image.",
            "Tệp này không phải ảnh PNG, JPEG hay WebP.",
        ),
        (lambda: SVG, "SVG logos are not accepted", "Không nhận logo SVG"),
        (
            lambda: _png()[:-40],
            "The logo is damaged or not a readable image.",
            "Logo bị hỏng hoặc không phải ảnh đọc được.",
        ),
        (
            lambda: _png() + b"\x00" * (1024 * 1024),
            "The logo is larger than 1 MB.",
            "Logo lớn hơn 1 MB.",
        ),
    ],
    ids=["png-bomb", "not-an-image", "svg", "truncated", "too-large"],
)
def test_hostile_logos_are_refused_and_nothing_is_stored(
    app: Flask, curator: FlaskClient, upload: Any, english: str, vietnamese: str
) -> None:
    body = upload()
    refused = _save_identity(curator, EN, logo=body, name_vi="Đổi tên", filename="logo.png")
    assert refused.status_code == 200
    assert english in refused.get_data(as_text=True)
    refused = _save_identity(curator, VI, logo=body, name_vi="Đổi tên")
    assert vietnamese in refused.get_data(as_text=True)
    assert _stored(app) == ([], [])
    assert "Đổi tên" not in curator.get("/", headers=VI).get_data(as_text=True)
    assert curator.get("/site/logo").status_code == 404


def test_a_failed_save_leaves_no_row_and_no_logo(app: Flask, curator: FlaskClient) -> None:
    """The audit event cannot be written: the change goes with it, stored logo and all."""
    with app.app_context():
        db.session.execute(text("DROP TABLE audit_event"))
        db.session.commit()
    response = _save_identity(curator, logo=_png(), name_vi="Không lưu")
    assert response.status_code == 409
    assert "The change could not be saved." in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert _stored(app) == ([], [])
    assert _save_page(curator, "about", title_vi="Không lưu", body_vi="x").status_code == 409
    with app.app_context():
        assert db.session.execute(db.select(SitePage)).first() is None


def test_the_identity_is_kept_and_a_change_shows_on_the_next_view(
    app: Flask, client: FlaskClient, curator: FlaskClient
) -> None:
    with app.app_context():
        engine = db.engine
    client.get("/", headers=VI)  # the first view reads it
    read: list[str] = []

    def listener(*args: object) -> None:
        if "site_identity" in str(args[2]):
            read.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        for _ in range(3):
            assert "Thư viện Tàng Thư" in _page_text(client, "/search", VI)
        assert read == []  # kept: no query per page
        assert _save_identity(curator, name_vi="Thư viện Mới").status_code == 302
        read.clear()
        assert "<span>Thư viện Mới</span>" in _page_text(client, "/search", VI)
        assert len([q for q in read if q.lstrip().upper().startswith("SELECT")]) == 1
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_another_process_sees_a_change_at_its_next_view(
    app: Flask, app_config: dict[str, Any], client: FlaskClient, curator: FlaskClient
) -> None:
    """A second app on the same instance (another worker) keeps its own copy; the stamp
    file tells it of the curator's change."""
    from repository import create_app

    other = create_app(app_config).test_client()
    assert "<span>Thư viện Tàng Thư</span>" in _page_text(other, "/", VI)
    assert _save_identity(curator, name_vi="Thư viện Quốc gia").status_code == 302
    assert "<span>Thư viện Quốc gia</span>" in _page_text(other, "/", VI)


def test_staff_see_the_site_link(curator: FlaskClient) -> None:
    home = curator.get("/", headers=EN).get_data(as_text=True)
    assert '<a href="/admin/site">Site settings</a>' in home
    admin = curator.get("/admin/site", headers=EN).get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in admin
    assert 'href="/admin/site/pages/about"' in admin and "Not written yet" in admin


def test_the_edit_form_starts_from_the_default_text_in_both_languages(
    curator: FlaskClient,
) -> None:
    form = curator.get("/admin/site/pages/terms", headers=EN).get_data(as_text=True)
    assert 'value="Điều khoản sử dụng"' in form and 'value="Terms of use"' in form
    assert "Ảnh và mô tả trên trang này" in form and "shared for study and research" in form


def test_a_replaced_or_removed_logo_leaves_nothing_behind(
    app: Flask, client: FlaskClient, curator: FlaskClient
) -> None:
    assert _save_identity(curator, logo=_png(100, 50)).status_code == 302
    assert _save_identity(curator, logo=_png(80, 40)).status_code == 302
    rows, keys = _stored(app)
    assert [row.logo_key for row in rows] == keys and len(keys) == 1
    assert (rows[0].logo_width, rows[0].logo_height, rows[0].generation) == (80, 40, 2)
    assert 'width="80" height="40"' in _page_text(client, "/", EN)
    assert _save_identity(curator, remove_logo="y").status_code == 302
    rows, keys = _stored(app)
    assert keys == [] and rows[0].logo_key == ""
    assert "<img src=" not in _page_text(client, "/", EN).split("</header>")[0]
    assert client.get("/site/logo").status_code == 404
