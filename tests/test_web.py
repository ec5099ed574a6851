"""Public pages, sign-in and the minimal admin, through Flask's test client."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import Item
from tests.helpers import count_statements, csrf_token, draw_grid_image, sign_in


@dataclass(frozen=True)
class Published:
    id: str
    first_image: str


@pytest.fixture
def published(runner: FlaskCliRunner, make_pages, app: Flask) -> Published:
    folder = make_pages(count=2)
    result = runner.invoke(
        args=[
            "ingest",
            str(folder),
            "--collection",
            "sach",
            "--title",
            "Đại Việt sử ký",
            "--direction",
            "right-to-left",
            "--publish",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        item = db.session.execute(db.select(Item)).scalar_one()
        return Published(item.id, item.images[0].id)


@pytest.fixture
def curator(runner: FlaskCliRunner) -> tuple[str, str]:
    result = runner.invoke(
        args=["create-user", "--admin", "thuthu", "--password", "mat-khau-rat-dai"]
    )
    assert result.exit_code == 0, result.output
    return "thuthu", "mat-khau-rat-dai"


def test_home_lists_collections_with_thumbnails(client: FlaskClient, published: Published) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "Đại Việt sử ký" in html
    assert f"/iiif/3/{published.first_image}/full/" in html


def test_item_page_embeds_mirador_with_the_manifest(
    client: FlaskClient, published: Published
) -> None:
    html = client.get(f"/items/{published.id}").get_data(as_text=True)
    assert f'data-manifest="http://127.0.0.1:8000/iiif/{published.id}/manifest"' in html
    assert "/viewer/mirador/mirador.min.js" in html


def test_manifest_endpoint_serves_the_stored_manifest(
    client: FlaskClient, published: Published, presentation_schema: dict
) -> None:
    from jsonschema import Draft7Validator

    response = client.get(f"/iiif/{published.id}/manifest")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "presentation/3/context.json" in response.headers["Content-Type"]
    manifest = json.loads(response.data)
    assert manifest["viewingDirection"] == "right-to-left"
    assert len(manifest["items"]) == 2
    assert list(Draft7Validator(presentation_schema).iter_errors(manifest)) == []


def test_drafts_do_not_exist_for_the_public(
    client: FlaskClient, runner: FlaskCliRunner, make_pages, app: Flask
) -> None:
    folder = make_pages(count=1)
    assert (
        runner.invoke(args=["ingest", str(folder), "--collection", "c", "--title", "t"]).exit_code
        == 0
    )
    with app.app_context():
        item_id = db.session.execute(db.select(Item.id)).scalar_one()
    assert client.get(f"/items/{item_id}").status_code == 404
    response = client.get(f"/iiif/{item_id}/manifest")
    assert response.status_code == 404 and response.mimetype == "text/plain"
    assert client.get("/items/nothing-here").status_code == 404


def test_language_switch(client: FlaskClient) -> None:
    assert "Bộ sưu tập" in client.get("/", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    client.get("/lang/en")
    assert "Collections" in client.get("/").get_data(as_text=True)
    assert client.get("/lang/en?next=//evil.example").headers["Location"] == "/"


def test_admin_requires_sign_in_and_staff(client: FlaskClient, runner: FlaskCliRunner) -> None:
    assert client.get("/admin/").status_code == 302
    runner.invoke(args=["create-user", "--reader", "docgia", "--password", "mat-khau-doc-gia"])
    sign_in(client, "docgia", "mat-khau-doc-gia")
    assert client.get("/admin/").status_code == 403


def test_wrong_password_is_refused_inline(client: FlaskClient, curator: tuple[str, str]) -> None:
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))
    response = client.post(
        "/auth/login",
        data={"username": curator[0], "password": "wrong", "csrf_token": token},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 200
    assert "Wrong username or password." in response.get_data(as_text=True)


def test_posts_without_csrf_are_refused(client: FlaskClient, curator: tuple[str, str]) -> None:
    response = client.post("/auth/login", data={"username": curator[0], "password": curator[1]})
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


def upload(name: str, body: bytes) -> tuple[io.BytesIO, str]:
    return io.BytesIO(body), name


def test_curator_creates_collection_and_item_through_the_forms(
    client: FlaskClient, curator: tuple[str, str], app: Flask, tmp_path: Path
) -> None:
    sign_in(client, *curator)
    token = csrf_token(client.get("/admin/collections/new").get_data(as_text=True))
    response = client.post(
        "/admin/collections/new",
        data={
            "slug": "han-nom",
            "title_vi": "Sách Hán Nôm",
            "title_en": "Hán-Nôm books",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    pages = []
    for number in (2, 1, 10):
        path = tmp_path / f"{number}.png"
        draw_grid_image(300, 400).pngsave(str(path))
        pages.append(upload(f"trang {number}.png", path.read_bytes()))
    token = csrf_token(client.get("/admin/items/new").get_data(as_text=True))
    response = client.post(
        "/admin/items/new",
        data={
            "collection": "han-nom",
            "title_vi": "Truyện Kiều",
            "title_en": "",
            "viewing_direction": "right-to-left",
            "pages": pages,
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        item = db.session.execute(db.select(Item)).scalar_one()
        assert [i.label for i in item.images] == ["trang 1", "trang 2", "trang 10"]
        item_id = item.id
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    assert (
        client.post(f"/admin/items/{item_id}/publish", data={"csrf_token": token}).status_code
        == 302
    )
    client.post("/auth/logout", data={"csrf_token": token})
    assert client.get(f"/items/{item_id}").status_code == 200


@pytest.fixture
def new_item_form(client: FlaskClient, curator: tuple[str, str], app: Flask) -> str:
    """A signed-in curator with collection "c", on the new-item form: its CSRF token."""
    sign_in(client, *curator)
    with app.app_context():
        from repository.cli.content import ensure_collection

        ensure_collection("c", "C")
    return csrf_token(client.get("/admin/items/new").get_data(as_text=True))


def test_a_bad_upload_is_refused_inline_and_nothing_is_created(
    client: FlaskClient, new_item_form: str, app: Flask
) -> None:
    token = new_item_form
    response = client.post(
        "/admin/items/new",
        data={
            "collection": "c",
            "title_vi": "x",
            "viewing_direction": "left-to-right",
            "pages": [upload("evil.jpg", b"<script>alert(1)</script>")],
            "csrf_token": token,
        },
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "evil.jpg: is not an accepted image" in html
    with app.app_context():
        assert db.session.execute(db.select(Item)).first() is None


def wait_for_uploads(client: FlaskClient, item_id: str) -> dict:
    import time

    for _ in range(200):
        state = client.get(f"/admin/items/{item_id}/uploads").get_json()
        if all(t["status"] in ("done", "failed") for t in state["tasks"]):
            return state
        time.sleep(0.05)
    raise AssertionError("uploads did not finish")


def test_pages_upload_in_the_background_with_a_status_per_file(
    client: FlaskClient, new_item_form: str, app: Flask, tmp_path: Path
) -> None:
    token = new_item_form
    response = client.post(
        "/admin/items/new",
        data={
            "collection": "c",
            "title_vi": "Sách",
            "viewing_direction": "left-to-right",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    item_id = response.headers["Location"].split("/")[-2]
    page_url = f"/admin/items/{item_id}/pages"
    token = csrf_token(client.get(page_url).get_data(as_text=True))
    names = ["tờ 1.png", "hỏng.jpg", "tờ 2.png"]
    for name in names:  # as the page's script does: one file per request, in order
        body = b"not an image" if name == "hỏng.jpg" else b""
        if not body:
            path = tmp_path / "p.png"
            draw_grid_image(300, 200).pngsave(str(path))
            body = path.read_bytes()
        reply = client.post(
            page_url,
            data={"csrf_token": token, "pages": [upload(name, body)]},
            content_type="multipart/form-data",
            headers={"Accept": "application/json"},
        )
        assert reply.status_code == 200 and reply.get_json()["tasks"][0]["filename"] == name
    state = wait_for_uploads(client, item_id)
    assert [t["status"] for t in state["tasks"]] == ["done", "failed", "done"]
    assert "is not an accepted image" in state["tasks"][1]["message"]
    assert state["pages"] == 2
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert [i.label for i in item.images] == ["tờ 1", "tờ 2"]
    html = client.get(page_url).get_data(as_text=True)
    assert "hỏng.jpg" in html and "tờ 2" in html
    assert not list((Path(app.instance_path) / "staging").rglob("*-*-*/*"))


def test_a_staff_only_manifest_never_goes_to_shared_caches(
    client: FlaskClient, runner: FlaskCliRunner, published: Published, curator: tuple[str, str]
) -> None:
    from tests.helpers import sign_in

    url = f"/iiif/{published.id}/manifest"
    assert "public" in client.get(url).headers["Cache-Control"]
    assert runner.invoke(args=["access", published.id, "staff"]).exit_code == 0
    assert client.get(url).status_code == 404
    sign_in(client, *curator)
    for encoding in ("gzip", "identity"):
        seen = client.get(url, headers={"Accept-Encoding": encoding})
        assert seen.status_code == 200 and seen.headers["Cache-Control"] == "private, no-store"


def _add_books(app: Flask, slug: str, count: int, featured: bool = False) -> None:
    """Published books without pages, one minute apart, into a collection made if new."""
    from datetime import datetime, timedelta

    from repository.models import Collection

    with app.app_context():
        found = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
        if found is None:
            found = Collection(slug=slug, title={"vi": f"Bộ {slug}"}, featured=featured)
            db.session.add(found)
            db.session.flush()
        start = db.session.execute(
            db.select(db.func.count(Item.id)).where(Item.collection_id == found.id)
        ).scalar_one()
        for number in range(start, start + count):
            db.session.add(
                Item(
                    collection_id=found.id,
                    title={"vi": f"Sách {slug} số {number:02d}"},
                    status="published",
                    created_at=datetime(2026, 1, 1) + timedelta(minutes=number),
                )
            )
        db.session.commit()


def test_home_shows_a_few_newest_items_and_counts_the_rest(app: Flask, client: FlaskClient) -> None:
    _add_books(app, "nho", 1)
    _add_books(app, "lon", 30, featured=True)
    with app.app_context():  # neither a draft nor a staff-only item is counted
        from repository.models import Collection

        lon = db.session.execute(db.select(Collection.id).filter_by(slug="lon")).scalar_one()
        db.session.add(Item(collection_id=lon, title={"vi": "Sách lon nháp"}))
        staff = {"status": "published", "access": "staff"}
        db.session.add(Item(collection_id=lon, title={"vi": "Sách lon kín"}, **staff))
        db.session.commit()
    html = client.get("/").get_data(as_text=True)
    shown = set(re.findall(r"Sách lon (?:số \d\d|nháp|kín)", html))
    assert shown == {f"Sách lon số {number:02d}" for number in range(22, 30)}
    assert "30 tài liệu" in html and "1 tài liệu" in html  # the site speaks Vietnamese
    assert html.index("Bộ lon") < html.index("Bộ nho")  # featured first
    assert "Xem tất cả tài liệu" in html


def test_home_page_statements_do_not_grow_with_the_items(app: Flask, client: FlaskClient) -> None:
    def statements() -> int:
        return count_statements(app, client, "/")

    _add_books(app, "lon", 5, featured=True)
    _add_books(app, "nho", 5)
    client.get("/search")  # what a process reads once (the site's identity) is read
    few = statements()
    _add_books(app, "lon", 45)
    _add_books(app, "nho", 45)
    assert statements() == few


def test_the_kept_home_page_changes_with_what_it_shows_and_who_looks(
    app: Flask, client: FlaskClient, published: Published, curator: tuple[str, str]
) -> None:
    """The home page's main part is rendered once and kept (pages.index): a curator's
    change to a collection or an item shows at once, and each viewer gets their own."""
    from repository.models import Collection

    with app.test_request_context():
        from flask import url_for

        logout = url_for("auth.logout")

    thumbnail = f"/iiif/3/{published.first_image}/full/"
    assert thumbnail in client.get("/").get_data(as_text=True)
    with app.app_context():
        db.session.execute(db.select(Collection)).scalar_one().title = {"vi": "Kho mới đặt tên"}
        db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "Kho mới đặt tên" in html and thumbnail in html
    with app.app_context():
        db.session.get(Item, published.id).access = "restricted"
        db.session.commit()
    html = client.get("/").get_data(as_text=True)
    assert "Đại Việt sử ký" in html and thumbnail not in html  # listed, pixels locked
    assert 'class="cover locked"' in html
    sign_in(client, *curator)  # staff see the pixels of a restricted item
    staff_home = client.get("/").get_data(as_text=True)
    assert thumbnail in staff_home
    assert client.post(logout, data={"csrf_token": csrf_token(staff_home)}).status_code == 302
    assert thumbnail not in client.get("/").get_data(as_text=True)
    assert "<h1>Bộ sưu tập</h1>" in client.get("/").get_data(as_text=True)
    client.get("/lang/en")
    assert "<h1>Collections</h1>" in client.get("/").get_data(as_text=True)


def test_an_answer_kept_per_state_is_worked_out_once_however_many_ask(app: Flask) -> None:
    """A count over every event takes a second at 200,000 items: when eight threads of a
    worker ask at once, one computes and the others wait for its answer."""
    import threading
    import time

    from repository.services.collections import Kept, kept

    store, calls, answers = Kept(8), [], []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.3)
        return 42

    def ask() -> None:
        with app.app_context():
            answers.append(kept(("slow",), slow, store))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [42] * 6 and len(calls) == 1
    assert store.building == {}  # nothing left behind

    def failing() -> int:
        raise RuntimeError("the database went away")

    with app.app_context():
        with pytest.raises(RuntimeError):
            kept(("fails",), failing, store)
        assert store.building == {} and kept(("fails",), lambda: 7, store) == 7
