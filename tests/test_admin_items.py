"""The catalogue record, page arrangement, contents outline, workflow and bulk actions."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import AuditEvent, Item
from tests.helpers import csrf_token, sign_in


@pytest.fixture
def curator_client(client: FlaskClient, runner: FlaskCliRunner) -> FlaskClient:
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    sign_in(client, "thuthu", "mat-khau-thu-thu")
    return client


@pytest.fixture
def item_id(runner: FlaskCliRunner, make_pages, app: Flask) -> str:
    result = runner.invoke(
        args=[
            "ingest",
            str(make_pages(count=3)),
            "--collection",
            "c",
            "--title",
            "Sách",
            "--publish",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        return str(db.session.execute(db.select(Item.id)).scalar_one())


def form_data(client: FlaskClient, url: str, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": csrf_token(client.get(url).get_data(as_text=True)), **fields}


def test_the_catalogue_record_is_saved_and_republished(
    curator_client: FlaskClient, item_id: str, app: Flask
) -> None:
    url = f"/admin/items/{item_id}"
    data = form_data(
        curator_client,
        url,
        title_vi="Truyện Kiều",
        title_en="The Tale of Kiều",
        summary_vi="Bản Nôm.",
        dc_creator="Nguyễn Du",
        dc_date="Tự Đức năm thứ 3",
        dc_language="[none] lzh\nvi",
        dc_subject="[vi] Thơ\n[vi] Truyện Nôm",
        year_start="1850",
        year_end="1850",
        viewing_direction="right-to-left",
        behavior="paged",
        rights="https://creativecommons.org/licenses/by/4.0/",
        access="restricted",
        embargo_until="",
    )
    assert curator_client.post(url, data=data).status_code == 302
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert item.title == {"vi": "Truyện Kiều", "en": "The Tale of Kiều"}
        assert item.dc["subject"] == [
            {"value": "Thơ", "lang": "vi"},
            {"value": "Truyện Nôm", "lang": "vi"},
        ]
        assert (item.year_start, item.access) == (1850, "restricted")
        actions = {e.action for e in db.session.execute(db.select(AuditEvent)).scalars()}
    assert {"item-updated", "access-changed"} <= actions
    manifest = curator_client.get(f"/iiif/{item_id}/manifest").get_json()
    assert manifest["viewingDirection"] == "right-to-left"
    assert manifest["rights"] == "https://creativecommons.org/licenses/by/4.0/"
    assert manifest["navDate"] == "1850-01-01T00:00:00Z"


def test_errors_are_shown_next_to_their_fields(curator_client: FlaskClient, item_id: str) -> None:
    url = f"/admin/items/{item_id}"
    data = form_data(
        curator_client,
        url,
        title_vi="",
        year_start="1900",
        year_end="1800",
        rights="not a url",
        viewing_direction="left-to-right",
        behavior="paged",
        access="open",
    )
    page = curator_client.post(url, data=data, headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="title_vi-errors"' in html and 'id="rights-errors"' in html
    data.update(title_vi="t", rights="")
    html = curator_client.post(url, data=data, headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert 'id="year_end-errors"' in html and "The last year comes before the first." in html


def test_pages_are_reordered_relabelled_and_the_start_page_chosen(
    curator_client: FlaskClient, item_id: str, app: Flask
) -> None:
    with app.app_context():
        ids = [image.id for image in db.session.get(Item, item_id).images]
    url = f"/admin/items/{item_id}/pages"
    token = csrf_token(curator_client.get(url).get_data(as_text=True))
    order = [ids[2], ids[0], ids[1]]  # as drag and drop leaves the hidden inputs
    curator_client.post(
        f"/admin/items/{item_id}/arrange",
        data={"csrf_token": token, "order": order, f"label-{ids[2]}": "tờ 1a", "start": ids[0]},
    )
    curator_client.post(
        f"/admin/items/{item_id}/arrange",
        data={  # the keyboard way
            "csrf_token": token,
            "order": order,
            "move": f"down:{ids[2]}",
            "start": ids[0],
        },
    )
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert [i.id for i in item.images] == [ids[0], ids[2], ids[1]]
        assert item.images[1].label == "tờ 1a" and item.start_image_id == ids[0]
    manifest = curator_client.get(f"/iiif/{item_id}/manifest").get_json()
    assert [c["id"].rsplit("/", 1)[1] for c in manifest["items"]] == [ids[0], ids[2], ids[1]]
    bad = curator_client.post(
        f"/admin/items/{item_id}/arrange",
        data={"csrf_token": token, "order": ids[:2]},
        follow_redirects=True,
        headers={"Accept-Language": "en"},
    )
    assert "every page once" in bad.get_data(as_text=True)


def test_the_contents_outline_becomes_nested_ranges(
    curator_client: FlaskClient, item_id: str
) -> None:
    url = f"/admin/items/{item_id}/contents"
    data = form_data(curator_client, url, toc="Quyển thượng | 1\n  Hồi 1 | 2-3\nQuyển hạ")
    assert curator_client.post(url, data=data).status_code == 302
    assert "  Hồi 1 | 2-3" in curator_client.get(url).get_data(as_text=True)
    structures = curator_client.get(f"/iiif/{item_id}/manifest").get_json()["structures"]
    assert structures[0]["items"][1]["label"] == {"vi": ["Hồi 1"]}
    data = form_data(curator_client, url, toc="Quyển | 1-9")
    html = curator_client.post(url, data=data).get_data(as_text=True)
    assert "line 1: pages 1-9 are not in this item" in html


def test_withdraw_and_bulk_actions(curator_client: FlaskClient, item_id: str, app: Flask) -> None:
    data = form_data(curator_client, f"/admin/items/{item_id}")
    curator_client.post(f"/admin/items/{item_id}/withdraw", data=data)
    visitor = app.test_client()
    assert visitor.get(f"/iiif/{item_id}/manifest").status_code == 404
    data = form_data(curator_client, "/admin/", action="publish", item=[item_id], confirm="yes")
    curator_client.post("/admin/items/bulk", data=data)
    assert visitor.get(f"/iiif/{item_id}/manifest").status_code == 200
    data = form_data(
        curator_client, "/admin/", action="access:staff", item=[item_id], confirm="yes"
    )
    curator_client.post("/admin/items/bulk", data=data)
    with app.app_context():
        assert db.session.get(Item, item_id).access == "staff"
    data = form_data(curator_client, "/admin/", action="delete-everything", item=[item_id])
    assert curator_client.post("/admin/items/bulk", data=data).status_code == 400


def test_posts_without_csrf_are_refused(curator_client: FlaskClient, item_id: str) -> None:
    for url in (
        f"/admin/items/{item_id}",
        f"/admin/items/{item_id}/arrange",
        f"/admin/items/{item_id}/withdraw",
        "/admin/items/bulk",
    ):
        assert curator_client.post(url, data={"title_vi": "x"}).status_code == 400
