"""Collections: curators create, edit and delete them; researchers browse them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import AuditEvent, Collection, Image, Item, ReaderGroup
from tests.helpers import csrf_token, sign_in

PASSWORD = "mat-khau-thu-thu"


@pytest.fixture
def curator(client: FlaskClient, runner: FlaskCliRunner) -> FlaskClient:
    """A client signed in as a curator, reading the admin in English."""
    result = runner.invoke(args=["create-user", "--curator", "thuthu", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, "thuthu", PASSWORD)
    return client


@pytest.fixture
def groups(runner: FlaskCliRunner, app: Flask) -> dict[str, int]:
    """Two reader groups, by name."""
    for name in ("nghien-cuu", "sinh-vien"):
        result = runner.invoke(args=["group", "add", name, "--label-en", name.title()])
        assert result.exit_code == 0, result.output
    with app.app_context():
        rows = db.session.execute(db.select(ReaderGroup.name, ReaderGroup.id)).all()
        return {name: group_id for name, group_id in rows}


def post_form(client: FlaskClient, url: str, fields: dict[str, object]) -> tuple[int, str]:
    """Fill the form at url as a browser would: with the page's CSRF token."""
    token = csrf_token(client.get(url).get_data(as_text=True))
    response = client.post(url, data={**fields, "csrf_token": token})
    return response.status_code, response.get_data(as_text=True)


def new_collection(client: FlaskClient, slug: str, **fields: object) -> tuple[int, str]:
    form = {"slug": slug, "title_vi": f"Sách {slug}", "default_access": "open", **fields}
    return post_form(client, "/admin/collections/new", form)


def edit_fields(collection: Collection) -> dict[str, object]:
    """The edit form's current values, as the page would submit them unchanged."""
    fields: dict[str, object] = {
        "title_vi": collection.title.get("vi", ""),
        "title_en": collection.title.get("en", ""),
        "description_vi": collection.description.get("vi", ""),
        "description_en": collection.description.get("en", ""),
        "default_access": collection.default_access,
        "parent": str(collection.parent_id or ""),
        "groups": [str(g.id) for g in collection.groups],
    }
    if collection.featured:
        fields["featured"] = "y"
    return fields


def field_errors(html: str, field: str) -> str:
    """The inline errors shown next to one field ('' when there are none)."""
    match = re.search(rf'<ul class="errors" id="{field}-errors">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


def find(app: Flask, slug: str) -> Collection | None:
    with app.app_context():
        collection = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
        if collection is not None:  # load what the tests read after the session ends
            _ = (collection.parent, collection.groups, collection.children)
        return collection


def audit(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        query = db.select(AuditEvent).filter_by(action=action).order_by(AuditEvent.id)
        return list(db.session.execute(query).scalars())


def ingest(runner: FlaskCliRunner, make_pages: Callable[..., Path], slug: str, title: str) -> None:
    folder = make_pages(count=1, width=300, height=200, name=title.replace(" ", "-"))
    args = ["ingest", str(folder), "--collection", slug, "--title", title, "--publish"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output


def test_curator_creates_a_bilingual_restricted_featured_collection(
    curator: FlaskClient, app: Flask, groups: dict[str, int]
) -> None:
    status, html = new_collection(
        curator,
        "han-nom",
        title_vi="Sách Hán Nôm",
        title_en="Hán-Nôm books",
        description_vi="Sách chữ Hán và chữ Nôm.\r\n\r\nThế kỷ XIX.",
        default_access="restricted",
        featured="y",
        groups=[str(groups["nghien-cuu"])],
    )
    assert status == 302, html
    collection = find(app, "han-nom")
    assert collection is not None
    assert collection.title == {"vi": "Sách Hán Nôm", "en": "Hán-Nôm books"}
    assert collection.description == {"vi": "Sách chữ Hán và chữ Nôm.\n\nThế kỷ XIX."}
    assert collection.default_access == "restricted" and collection.featured
    assert [g.name for g in collection.groups] == ["nghien-cuu"]
    [created] = audit(app, "collection-created")
    assert created.actor == "thuthu" and created.target == "han-nom"
    assert "default access restricted" in created.detail and "nghien-cuu" in created.detail
    listing = curator.get("/admin/collections").get_data(as_text=True)
    assert "han-nom" in listing and "Hán-Nôm books" in listing
    assert "Restricted to readers" in listing and "/admin/collections/han-nom/edit" in listing


def test_a_duplicate_short_name_is_an_inline_error(curator: FlaskClient, app: Flask) -> None:
    assert new_collection(curator, "sach")[0] == 302
    status, html = new_collection(curator, "sach", title_vi="Khác")
    assert status == 200
    assert "Another collection already uses this short name." in field_errors(html, "slug")
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(Collection)).scalar() == 1


def test_a_missing_title_or_bad_short_name_is_an_inline_error(
    curator: FlaskClient, app: Flask
) -> None:
    status, html = new_collection(curator, "sach", title_vi="  ")
    assert status == 200 and field_errors(html, "title_vi")
    status, html = new_collection(curator, "sách cũ")
    assert status == 200
    assert "Use lowercase letters, digits and -." in field_errors(html, "slug")
    assert find(app, "sach") is None


def test_editing_changes_access_and_groups_and_is_audited(
    curator: FlaskClient,
    app: Flask,
    groups: dict[str, int],
    runner: FlaskCliRunner,
    make_pages: Callable[..., Path],
) -> None:
    new_collection(curator, "sach", default_access="restricted", groups=[groups["nghien-cuu"]])
    ingest(runner, make_pages, "sach", "Sách hạn chế")
    collection = find(app, "sach")
    assert collection is not None
    html = curator.get("/admin/collections/sach/edit").get_data(as_text=True)
    assert 'value="restricted" selected' in html or 'selected value="restricted"' in html
    fields = {
        **edit_fields(collection),
        "title_en": "Books",
        "default_access": "onsite",
        "groups": [str(groups["sinh-vien"])],
    }
    status, html = post_form(curator, "/admin/collections/sach/edit", fields)
    assert status == 302, html
    # The published item's image policy names the new group at once, with no republish.
    with app.app_context():
        image = db.session.execute(db.select(Image)).scalar_one()
        sidecar = Path(app.instance_path) / "storage" / "policies" / f"{image.id}.json"
    assert json.loads(sidecar.read_text())["full_for"] == ["group:sinh-vien", "staff"]
    changed = find(app, "sach")
    assert changed is not None
    assert changed.default_access == "onsite" and changed.title["en"] == "Books"
    assert [g.name for g in changed.groups] == ["sinh-vien"]
    [updated] = audit(app, "collection-updated")
    assert "default access restricted → onsite" in updated.detail
    assert "groups nghien-cuu → sinh-vien" in updated.detail and "title" in updated.detail


def test_a_collection_cannot_be_inside_its_own_sub_collection(
    curator: FlaskClient, app: Flask
) -> None:
    new_collection(curator, "cha")
    parent = find(app, "cha")
    assert parent is not None
    assert new_collection(curator, "con", parent=str(parent.id))[0] == 302
    child = find(app, "con")
    assert child is not None and child.parent_id == parent.id
    status, html = post_form(
        curator, "/admin/collections/cha/edit", {**edit_fields(parent), "parent": str(child.id)}
    )
    assert status == 200
    assert "cannot be inside itself" in field_errors(html, "parent")
    refused = find(app, "cha")
    assert refused is not None and refused.parent_id is None
    assert not audit(app, "collection-updated")


def test_only_an_empty_collection_can_be_deleted(
    curator: FlaskClient, app: Flask, runner: FlaskCliRunner, make_pages: Callable[..., Path]
) -> None:
    new_collection(curator, "day")
    ingest(runner, make_pages, "day", "Truyện Kiều")
    page = curator.get("/admin/collections/day/delete").get_data(as_text=True)
    assert "cannot be deleted" in page and "It holds 1 item." in page
    status, html = post_form(curator, "/admin/collections/day/delete", {})
    assert status == 409 and "It holds 1 item." in html
    assert find(app, "day") is not None

    new_collection(curator, "me")
    parent = find(app, "me")
    assert parent is not None
    new_collection(curator, "con", parent=str(parent.id))
    status, html = post_form(curator, "/admin/collections/me/delete", {})
    assert status == 409 and "It holds 1 sub-collection." in html
    assert not audit(app, "collection-deleted")


def test_an_empty_collection_is_deleted_and_audited(curator: FlaskClient, app: Flask) -> None:
    new_collection(curator, "trong", title_vi="Trống")
    page = curator.get("/admin/collections/trong/delete").get_data(as_text=True)
    assert "This cannot be undone." in page
    status, html = post_form(curator, "/admin/collections/trong/delete", {})
    assert status == 302, html
    assert find(app, "trong") is None
    [deleted] = audit(app, "collection-deleted")
    assert deleted.target == "trong" and deleted.detail == "Trống"
    assert curator.get("/admin/collections/trong/edit").status_code == 404


def test_posts_without_a_csrf_token_are_refused(curator: FlaskClient, app: Flask) -> None:
    new_collection(curator, "sach")
    form = {"slug": "khac", "title_vi": "Khác", "default_access": "open"}
    assert curator.post("/admin/collections/new", data=form).status_code == 400
    assert curator.post("/admin/collections/sach/edit", data=form).status_code == 400
    assert curator.post("/admin/collections/sach/delete").status_code == 400
    assert find(app, "khac") is None and find(app, "sach") is not None


def test_readers_may_not_manage_collections(
    client: FlaskClient, runner: FlaskCliRunner, app: Flask
) -> None:
    with app.app_context():
        db.session.add(Collection(slug="sach", title={"vi": "Sách"}))
        db.session.commit()
    runner.invoke(args=["create-user", "--reader", "docgia", "--password", "mat-khau-doc-gia"])
    sign_in(client, "docgia", "mat-khau-doc-gia")
    for url in (
        "/admin/collections",
        "/admin/collections/new",
        "/admin/collections/sach/edit",
        "/admin/collections/sach/delete",
    ):
        assert client.get(url).status_code == 403, url
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert (
        client.post("/admin/collections/sach/delete", data={"csrf_token": token}).status_code == 403
    )
    assert find(app, "sach") is not None


def test_home_shows_featured_collections_first_with_a_locked_cover(
    curator: FlaskClient,
    client: FlaskClient,
    app: Flask,
    runner: FlaskCliRunner,
    make_pages: Callable[..., Path],
) -> None:
    new_collection(curator, "thuong", title_vi="Sách thường")
    new_collection(
        curator, "noi-bat", title_vi="Sách nổi bật", default_access="restricted", featured="y"
    )
    ingest(runner, make_pages, "thuong", "Sách một")
    ingest(runner, make_pages, "noi-bat", "Sách hai")
    curator.post("/auth/logout", data={"csrf_token": csrf_token(curator.get("/").text)})
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    featured = html.index("Featured collections")
    assert featured < html.index("Sách nổi bật") < html.index("More collections")
    assert html.index("More collections") < html.index("Sách thường")
    # The featured collection's items are restricted: a lock, never a refused thumbnail.
    featured_section = html[featured : html.index("More collections")]
    assert "🔒" in featured_section and "/full/" not in featured_section
    other_section = html[html.index("More collections") :]
    assert "/iiif/3/" in other_section and "/full/" in other_section


def test_collection_page_shows_description_sub_collections_and_iiif_link(
    curator: FlaskClient, client: FlaskClient, app: Flask
) -> None:
    new_collection(
        curator,
        "cha",
        title_vi="Thư tịch",
        description_vi="Đoạn một.\r\n\r\nĐoạn hai.",
    )
    parent = find(app, "cha")
    assert parent is not None
    new_collection(curator, "con", title_vi="Địa bạ", parent=str(parent.id))
    html = client.get("/collections/cha").get_data(as_text=True)
    assert "<p>Đoạn một.</p><p>Đoạn hai.</p>" in html
    assert 'href="/collections/con"' in html and "Địa bạ" in html
    assert "http://127.0.0.1:8000/iiif/collection/cha" in html
    assert client.get("/iiif/collection/cha").status_code == 200
    child = client.get("/collections/con").get_data(as_text=True)
    breadcrumb = child[child.index('class="breadcrumb"') :]
    assert breadcrumb.index('href="/collections/cha"') < breadcrumb.index("Địa bạ")


@pytest.mark.browser
def test_collection_pages_fit_a_phone_screen(site: dict[str, str]) -> None:
    """No page of collections scrolls sideways at 360 px, for readers or curators."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import ARTIFACTS
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    web = site["web"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 360, "height": 740})
        page.goto(f"{web}/auth/login")
        page.fill("input[name=username]", "thuthu")
        page.fill("input[name=password]", "mat-khau-thu-thu")
        page.click("main button[type=submit]")
        page.wait_for_url(f"{web}/")
        ARTIFACTS.mkdir(exist_ok=True)
        for name, path in (
            ("home", "/"),
            ("collection", "/collections/mau"),
            ("admin-collections", "/admin/collections"),
            ("admin-collection-new", "/admin/collections/new"),
            ("admin-collection-edit", "/admin/collections/mau/edit"),
            ("admin-collection-delete", "/admin/collections/mau/delete"),
        ):
            assert page.goto(web + path).status == 200, path
            page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
        browser.close()


def test_a_curator_chooses_the_cover_page(
    curator: FlaskClient, runner: FlaskCliRunner, make_pages, app: Flask
) -> None:
    for number in (1, 2):
        folder = make_pages(count=1, name=f"b{number}", width=400 + number)
        result = runner.invoke(
            args=[
                "ingest",
                str(folder),
                "--collection",
                "bia",
                "--title",
                f"Sách {number}",
                "--publish",
            ]
        )
        assert result.exit_code == 0, result.output
    runner.invoke(
        args=[
            "ingest",
            str(make_pages(count=1, name="other", width=333)),
            "--collection",
            "khac",
            "--title",
            "Khác",
            "--publish",
        ]
    )
    with app.app_context():
        bia = find(app, "bia")
        assert bia is not None
        fields = {**edit_fields(bia), "featured": "y"}
        second = db.session.execute(
            db.select(Image.id).join(Item).where(Item.title["vi"].as_string() == "Sách 2")
        ).scalar_one()
        foreign = db.session.execute(
            db.select(Image.id).join(Item).where(Item.title["vi"].as_string() == "Khác")
        ).scalar_one()
    status, html = post_form(curator, "/admin/collections/bia/edit", {**fields, "cover": foreign})
    assert "not a valid choice" in field_errors(html, "cover").lower() or field_errors(
        html, "cover"
    )
    status, _ = post_form(curator, "/admin/collections/bia/edit", {**fields, "cover": second})
    assert status == 302
    with app.app_context():
        assert find(app, "bia").cover_image_id == second  # type: ignore[union-attr]
    assert f"/iiif/3/{second}/full/" in curator.get("/").get_data(as_text=True)
