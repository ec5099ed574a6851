"""Curators keep their work: one record form that saves before it publishes, a new-item
form that creates and publishes, and pages that can be deleted, replaced and labelled."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository import get_storage
from repository.extensions import db
from repository.models import AuditEvent, Collection, Image, Item
from tests.helpers import csrf_token, draw_grid_image, sign_in

EN = {"Accept-Language": "en"}


@pytest.fixture
def curator_client(client: FlaskClient, runner: FlaskCliRunner) -> FlaskClient:
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    sign_in(client, "thuthu", "mat-khau-thu-thu")
    return client


def ingest(runner: FlaskCliRunner, folder: Path, app: Flask, *publish: str) -> str:
    """An item of the pages in ``folder``, in collection "c": its id."""
    args = ["ingest", str(folder), "--collection", "c", "--title", "Sách", *publish]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    with app.app_context():
        return str(db.session.execute(db.select(Item.id).order_by(Item.created_at)).scalar())


@pytest.fixture
def draft_id(runner: FlaskCliRunner, make_pages, app: Flask) -> str:
    return ingest(runner, make_pages(count=3), app)


@pytest.fixture
def published_id(runner: FlaskCliRunner, make_pages, app: Flask) -> str:
    return ingest(runner, make_pages(count=3), app, "--publish")


def record_form(client: FlaskClient, item_id: str, **fields: Any) -> dict[str, Any]:
    """What the record form posts, as the page fills it, with ``fields`` typed over it."""
    url = f"/admin/items/{item_id}"
    data = {
        "csrf_token": csrf_token(client.get(url).get_data(as_text=True)),
        "title_vi": "Sách",
        "viewing_direction": "left-to-right",
        "behavior": "paged",
        "access": "open",
        "ocr_languages": "collection",
    }
    return {**data, **fields}


def anonymous_manifest(app: Flask, item_id: str) -> tuple[int, dict[str, Any]]:
    reply = app.test_client().get(f"/iiif/{item_id}/manifest")
    return reply.status_code, (reply.get_json() if reply.status_code == 200 else {})


def creators(manifest: dict[str, Any]) -> list[str]:
    for entry in manifest.get("metadata", []):
        if entry["label"].get("en") == ["Creator"]:
            return [v for values in entry["value"].values() for v in values]
    return []


def test_save_and_publish_keeps_the_typed_creator(
    curator_client: FlaskClient, draft_id: str, app: Flask
) -> None:
    url = f"/admin/items/{draft_id}"
    assert anonymous_manifest(app, draft_id)[0] == 404
    data = record_form(curator_client, draft_id, dc_creator="Nguyễn Du", publish="1")
    reply = curator_client.post(url, data=data, headers=EN)
    assert reply.status_code == 302, reply.get_data(as_text=True)
    with app.app_context():
        item = db.session.get(Item, draft_id)
        assert item.status == "published"
        assert item.dc["creator"] == [{"value": "Nguyễn Du", "lang": ""}]
        events = db.select(AuditEvent).order_by(AuditEvent.id)
        actions = [e.action for e in db.session.execute(events).scalars()]
    assert actions.index("item-updated") < actions.index("publish")
    status, manifest = anonymous_manifest(app, draft_id)
    assert status == 200 and creators(manifest) == ["Nguyễn Du"]
    html = curator_client.get(url, headers=EN).get_data(as_text=True)
    assert "Nguyễn Du</textarea>" in html and "Published" in html


def test_a_refused_record_publishes_nothing_and_shows_what_was_typed(
    curator_client: FlaskClient, draft_id: str, app: Flask
) -> None:
    url = f"/admin/items/{draft_id}"
    for typed in (
        {"title_vi": ""},  # refused by the form
        {"year_start": "1900", "year_end": "1800"},  # refused by the cataloguing service
    ):
        data = record_form(curator_client, draft_id, dc_creator="Nguyễn Du", publish="1", **typed)
        reply = curator_client.post(url, data=data, headers=EN)
        html = reply.get_data(as_text=True)
        assert reply.status_code == 200
        assert "Nothing was saved or published" in html
        assert "Nguyễn Du</textarea>" in html  # typed back, not lost
        with app.app_context():
            item = db.session.get(Item, draft_id)
            assert item.status == "draft" and "creator" not in item.dc
        assert anonymous_manifest(app, draft_id)[0] == 404
    html = curator_client.post(url, data=data, headers={"Accept-Language": "vi"}).get_data(
        as_text=True
    )
    assert "Chưa lưu và chưa công bố gì" in html


def test_save_alone_does_not_publish_and_an_item_without_pages_is_not_published(
    curator_client: FlaskClient, draft_id: str, app: Flask
) -> None:
    data = record_form(curator_client, draft_id, dc_creator="Nguyễn Du")
    assert curator_client.post(f"/admin/items/{draft_id}", data=data).status_code == 302
    with app.app_context():
        assert db.session.get(Item, draft_id).status == "draft"
    token = csrf_token(curator_client.get("/admin/items/new").get_data(as_text=True))
    reply = curator_client.post(
        "/admin/items/new",
        data={
            "csrf_token": token,
            "collection": "c",
            "title_vi": "Trống",
            "dc_creator": "Khuyết danh",
            "viewing_direction": "left-to-right",
        },
    )
    empty = reply.headers["Location"].split("/")[-2]
    with app.app_context():  # the creator typed on the new-item form is kept
        assert db.session.get(Item, empty).dc["creator"][0]["value"] == "Khuyết danh"
    data = record_form(
        curator_client, empty, title_vi="Trống", dc_creator="Khuyết danh", publish="1"
    )
    reply = curator_client.post(f"/admin/items/{empty}", data=data, headers=EN)
    assert reply.status_code == 302
    with app.app_context():
        item = db.session.get(Item, empty)
        assert item.status == "draft" and item.dc["creator"][0]["value"] == "Khuyết danh"
    page = curator_client.get(reply.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Saved, but not published" in page


def page_upload(tmp_path: Path, name: str, width: int = 300) -> tuple[io.BytesIO, str]:
    path = tmp_path / name
    draw_grid_image(width, 400).pngsave(str(path))
    return io.BytesIO(path.read_bytes()), name


def new_item_form(client: FlaskClient, app: Flask) -> str:
    with app.app_context():
        db.session.add(Collection(slug="c", title={"vi": "C"}))
        db.session.commit()
    return csrf_token(client.get("/admin/items/new").get_data(as_text=True))


def test_create_and_publish_makes_a_public_item_in_one_post(
    curator_client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    token = new_item_form(curator_client, app)
    files = [page_upload(tmp_path, f"trang {n}.png") for n in (2, 10, 1)]
    reply = curator_client.post(
        "/admin/items/new",
        data={
            "csrf_token": token,
            "collection": "c",
            "title_vi": "Truyện Kiều",
            "dc_creator": "Nguyễn Du",
            "viewing_direction": "right-to-left",
            "pages": files,
            "publish": "1",
        },
        content_type="multipart/form-data",
    )
    assert reply.status_code == 302, reply.get_data(as_text=True)
    item_id = reply.headers["Location"].rsplit("/", 1)[1]
    status, manifest = anonymous_manifest(app, item_id)
    assert status == 200 and len(manifest["items"]) == 3
    assert creators(manifest) == ["Nguyễn Du"]
    assert [c["label"]["none"][0] for c in manifest["items"]] == ["trang 1", "trang 2", "trang 10"]
    assert app.test_client().get(f"/items/{item_id}").status_code == 200


def test_create_and_publish_refuses_without_pages_or_with_a_bad_one(
    curator_client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    token = new_item_form(curator_client, app)
    base = {
        "csrf_token": token,
        "collection": "c",
        "title_vi": "Sách",
        "viewing_direction": "left-to-right",
        "publish": "1",
    }
    for pages, expected in (
        ([], "Choose the page images to publish with the item."),
        ([(io.BytesIO(b"not an image"), "hong.jpg")], "hong.jpg: is not an accepted image"),
    ):
        reply = curator_client.post(
            "/admin/items/new",
            data={**base, "dc_creator": "Nguyễn Du", "pages": pages},
            content_type="multipart/form-data",
            headers=EN,
        )
        html = reply.get_data(as_text=True)
        assert reply.status_code == 200 and expected in html
        assert "Nothing was created or published" in html
        assert "Nguyễn Du</textarea>" in html
        with app.app_context():
            assert db.session.execute(db.select(Item)).first() is None


def storage_has(app: Flask, key: str) -> bool:
    with app.app_context():
        return get_storage().exists(key)


def images_of(app: Flask, item_id: str) -> list[tuple[str, int, str, str, str]]:
    with app.app_context():
        item = db.session.get(Item, item_id)
        return [(i.id, i.position, i.label, i.pyramid_key, i.master_key) for i in item.images]


def test_a_page_is_deleted_after_a_confirmation_and_the_manifest_follows(
    curator_client: FlaskClient, published_id: str, app: Flask
) -> None:
    before = images_of(app, published_id)
    gone = before[1]
    pages_url = f"/admin/items/{published_id}/pages"
    confirm = curator_client.get(f"{pages_url}?delete={gone[0]}", headers=EN)
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and f"Delete the page “{gone[2]}”?" in html
    delete_url = f"/admin/items/{published_id}/pages/{gone[0]}/delete"
    assert f'action="{delete_url}"' in html
    assert curator_client.post(delete_url).status_code == 400  # no CSRF token
    reply = curator_client.post(delete_url, data={"csrf_token": csrf_token(html)})
    assert reply.status_code == 302
    after = images_of(app, published_id)
    assert [(i[0], i[1]) for i in after] == [(before[0][0], 1), (before[2][0], 2)]
    status, manifest = anonymous_manifest(app, published_id)
    assert status == 200
    assert [c["id"].rsplit("/", 1)[1] for c in manifest["items"]] == [before[0][0], before[2][0]]
    assert not storage_has(app, gone[3]) and not storage_has(app, gone[4])
    assert not storage_has(app, f"policies/{gone[0]}.json")
    assert all(storage_has(app, i[3]) for i in after)
    other = f"/admin/items/{published_id}/pages/{gone[0]}/delete"
    assert curator_client.post(other, data={"csrf_token": csrf_token(html)}).status_code == 404


def test_the_only_page_of_a_published_item_is_not_deleted(
    curator_client: FlaskClient, runner: FlaskCliRunner, make_pages, app: Flask
) -> None:
    item_id = ingest(runner, make_pages(count=1), app, "--publish")
    (only,) = images_of(app, item_id)
    token = csrf_token(curator_client.get(f"/admin/items/{item_id}/pages").get_data(as_text=True))
    reply = curator_client.post(
        f"/admin/items/{item_id}/pages/{only[0]}/delete", data={"csrf_token": token}, headers=EN
    )
    assert reply.status_code == 409
    assert "withdraw it first" in reply.get_data(as_text=True)
    assert images_of(app, item_id) == [only] and storage_has(app, only[3])
    assert len(anonymous_manifest(app, item_id)[1]["items"]) == 1


def test_a_page_is_replaced_in_place_through_the_upload_checks(
    curator_client: FlaskClient, published_id: str, app: Flask, tmp_path: Path
) -> None:
    before = images_of(app, published_id)
    old = before[0]
    url = f"/admin/items/{published_id}/pages/{old[0]}/replace"
    html = curator_client.get(
        f"/admin/items/{published_id}/pages?replace={old[0]}", headers=EN
    ).get_data(as_text=True)
    assert f'action="{url}"' in html
    token = csrf_token(html)
    bad = curator_client.post(
        url,
        data={"csrf_token": token, "image": (io.BytesIO(b"<svg/>"), "evil.jpg")},
        content_type="multipart/form-data",
        headers=EN,
    )
    assert bad.status_code == 422 and "evil.jpg: is not an accepted image" in bad.text
    assert images_of(app, published_id) == before
    empty = curator_client.post(url, data={"csrf_token": token}, headers=EN)
    assert empty.status_code == 422 and "Choose the new image for this page." in empty.text
    reply = curator_client.post(
        url,
        data={"csrf_token": token, "image": page_upload(tmp_path, "moi.png", width=333)},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 302, reply.get_data(as_text=True)
    after = images_of(app, published_id)
    assert len(after) == 3 and after[1:] == before[1:]
    new = after[0]
    assert new[0] != old[0] and (new[1], new[2]) == (1, old[2])
    status, manifest = anonymous_manifest(app, published_id)
    first = manifest["items"][0]
    assert first["id"].endswith("/" + new[0]) and first["width"] == 333
    assert not storage_has(app, old[3]) and storage_has(app, new[3])
    assert storage_has(app, f"policies/{new[0]}.json")
    with app.app_context():
        assert db.session.get(Image, old[0]) is None


def test_folio_labels_for_every_page(
    curator_client: FlaskClient, published_id: str, app: Flask
) -> None:
    url = f"/admin/items/{published_id}/folios"
    token = csrf_token(
        curator_client.get(f"/admin/items/{published_id}/pages").get_data(as_text=True)
    )
    assert curator_client.post(url, data={"csrf_token": token, "scheme": "to"}).status_code == 302
    assert [i[2] for i in images_of(app, published_id)] == ["tờ 1a", "tờ 1b", "tờ 2a"]
    manifest = anonymous_manifest(app, published_id)[1]
    assert [c["label"]["none"][0] for c in manifest["items"]] == ["tờ 1a", "tờ 1b", "tờ 2a"]
    assert curator_client.post(url, data={"csrf_token": token, "scheme": "rv"}).status_code == 302
    assert [i[2] for i in images_of(app, published_id)] == ["1r", "1v", "2r"]
    assert curator_client.post(url, data={"csrf_token": token, "scheme": "x"}).status_code == 400
    assert curator_client.post(url, data={"scheme": "to"}).status_code == 400


def test_the_page_manager_is_a_named_link_and_readers_reach_no_page_action(
    client: FlaskClient,
    curator_client: FlaskClient,
    runner: FlaskCliRunner,
    published_id: str,
    app: Flask,
) -> None:
    html = curator_client.get(f"/admin/items/{published_id}", headers=EN).get_data(as_text=True)
    assert f'<a href="/admin/items/{published_id}/pages">Manage pages</a>' in html
    vi = curator_client.get(f"/admin/items/{published_id}", headers={"Accept-Language": "vi"})
    assert ">Quản lý trang</a>" in vi.get_data(as_text=True)
    (first, *_rest) = images_of(app, published_id)
    token = csrf_token(html)
    curator_client.post("/auth/logout", data={"csrf_token": token})
    runner.invoke(args=["create-user", "--reader", "docgia", "--password", "mat-khau-doc-gia"])
    sign_in(client, "docgia", "mat-khau-doc-gia")
    token = csrf_token(client.get("/").get_data(as_text=True))
    for action, fields in (
        (f"pages/{first[0]}/delete", {}),
        (f"pages/{first[0]}/replace", {}),
        ("folios", {"scheme": "to"}),
    ):
        reply = client.post(
            f"/admin/items/{published_id}/{action}", data={"csrf_token": token, **fields}
        )
        assert reply.status_code == 403
    assert images_of(app, published_id)[0] == first
