"""Manifests and collections over HTTP: stored, negotiated, cached, gzipped, valid."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jsonschema import Draft7Validator
from sqlalchemy import event

from repository import create_app
from repository.extensions import db
from repository.models import Collection, Item
from repository.services import collections
from repository.services.collections import BODIES


@pytest.fixture
def app(app_config: dict[str, Any]) -> Flask:
    app = create_app(
        {
            **app_config,
            "COLLECTION_PAGE_SIZE": 2,
            "PUBLIC_URL": "https://thuvien.example.vn/tangthu",
            "IMAGE_URL": "https://anh.example.vn",
        }
    )
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def items(app: Flask, runner: FlaskCliRunner, make_pages) -> list[str]:
    """Three published items and one draft in collection 'sach'."""
    made = []
    for number in range(4):
        folder = make_pages(count=2, name=f"book{number}", width=600 + 10 * number)
        args = [
            "ingest",
            str(folder),
            "--collection",
            "sach",
            "--title",
            f"Sách {number}",
            "--direction",
            "right-to-left",
        ]
        result = runner.invoke(args=[*args, "--publish"] if number < 3 else args)
        assert result.exit_code == 0, result.output
    with app.app_context():
        made = [
            i.id for i in db.session.execute(db.select(Item).order_by(Item.created_at)).scalars()
        ]
    return made


def valid(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    errors = list(Draft7Validator(schema).iter_errors(document))
    assert errors == [], [e.message[:200] for e in errors]
    return True


def test_manifest_headers_etag_and_gzip(
    client: FlaskClient, items: list[str], presentation_schema: dict[str, Any]
) -> None:
    url = f"/iiif/{items[0]}/manifest"
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == (
        'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'
    )
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    manifest = response.get_json()
    assert valid(manifest, presentation_schema)
    assert manifest["id"] == f"https://thuvien.example.vn/tangthu{url}"  # the public base URL
    assert manifest["items"][0]["items"][0]["items"][0]["body"]["service"][0]["id"].startswith(
        "https://anh.example.vn/iiif/3/"
    )
    etag = response.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    zipped = client.get(url, headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped.data)) == manifest
    plain = client.get(url, headers={"Accept": "application/json"})
    assert plain.headers["Content-Type"] == "application/json"


def test_presentation_2_manifest(client: FlaskClient, items: list[str]) -> None:
    response = client.get(f"/iiif/2/{items[0]}/manifest")
    assert response.status_code == 200 and "presentation/2/context.json" in response.content_type
    document = response.get_json()
    assert document["@type"] == "sc:Manifest" and document["viewingDirection"] == "right-to-left"
    assert document["sequences"][0]["viewingDirection"] == "right-to-left"
    assert len(document["sequences"][0]["canvases"]) == 2
    zipped = client.get(f"/iiif/2/{items[0]}/manifest", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert json.loads(gzip.decompress(zipped.data)) == document


def test_presentation_2_manifest_stored_without_gzip_is_sent_plain(
    app: Flask, client: FlaskClient, items: list[str]
) -> None:
    from repository import get_storage
    from repository.services.publish import manifest_key

    with app.app_context():  # as stored before 2.1 manifests had a gzip copy
        get_storage().delete(manifest_key(items[0], 2, gzipped=True))
    response = client.get(f"/iiif/2/{items[0]}/manifest", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and "Content-Encoding" not in response.headers
    assert response.get_json()["@type"] == "sc:Manifest"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/iiif/nope/manifest", 404),
        ("/iiif/2/nope/manifest", 404),
        ("/iiif/collection/nope", 404),
        ("/iiif/collection/sach?page=9", 404),
        ("/iiif/collection/sach?page=x", 400),
    ],
)
def test_unknown_things_are_plain_text_errors(
    client: FlaskClient, items: list[str], path: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.mimetype == "text/plain" and b"<" not in response.data


def test_drafts_have_no_public_manifest(client: FlaskClient, items: list[str]) -> None:
    assert client.get(f"/iiif/{items[3]}/manifest").status_code == 404


def test_top_collection_and_paged_collections(
    client: FlaskClient, items: list[str], presentation_schema: dict[str, Any]
) -> None:
    top = client.get("/iiif/collection/top").get_json()
    assert valid(top, presentation_schema)
    assert [c["id"] for c in top["items"]] == [
        "https://thuvien.example.vn/tangthu/iiif/collection/sach"
    ]
    paged = client.get("/iiif/collection/sach").get_json()
    assert valid(paged, presentation_schema)
    assert [c["id"].rsplit("=", 1)[1] for c in paged["items"]] == ["1", "2"]  # 3 items, 2 a page
    pages = [client.get(f"/iiif/collection/sach?page={n}").get_json() for n in (1, 2)]
    listed = [m["id"] for page in pages for m in page["items"]]
    assert listed == [f"https://thuvien.example.vn/tangthu/iiif/{i}/manifest" for i in items[:3]]
    assert all(valid(page, presentation_schema) for page in pages)
    page = client.get("/iiif/2/collection/sach?page=1").get_json()
    assert page["@type"] == "sc:Collection"
    # Without a curator's description, a collection says how many items it holds.
    assert {"@value": "A collection of 3 items.", "@language": "en"} in page["description"]
    assert client.get("/iiif/2/collection/top").get_json()["description"][1] == {
        "@value": "The collections of Tàng Thư Library",
        "@language": "en",
    }


def test_a_built_collection_page_is_shared_with_the_app_s_other_processes(
    app: Flask, client: FlaskClient, items: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = Path(app.instance_path) / "cache" / "iiif-collections"
    first = client.get("/iiif/collection/sach?page=1")
    assert first.status_code == 200
    assert [f.read_bytes() for f in folder.glob("*.body")] == [first.data]
    # Another gunicorn worker: none of this process's memory. It reads the file that the
    # first one wrote, and does not build the page again (no collection or item is read).
    BODIES.answers.clear()
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        again = client.get("/iiif/collection/sach?page=1")
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert again.data == first.data
    assert not [s for s in statements if "FROM collection" in s or "FROM image" in s]
    # A change to the catalogue names a new file: the page is built again, with the change.
    with app.app_context():
        changed = db.session.get(Item, items[0])
        assert changed is not None
        changed.title = {"vi": "Sách đổi tên"}
        db.session.commit()
    renamed = client.get("/iiif/collection/sach?page=1").get_json()
    assert renamed["items"][0]["label"] == {"vi": ["Sách đổi tên"]}
    assert len(list(folder.glob("*.body"))) == 2
    # Bounded: past the limit the oldest files go; nothing half-written is left beside.
    monkeypatch.setattr(collections, "SHARED_LIMIT", 2)
    for path in ("/iiif/collection/sach?page=2", "/iiif/2/collection/sach?page=1"):
        assert client.get(path).status_code == 200
    assert len(list(folder.glob("*.body"))) == 2
    assert list(folder.iterdir()) == list(folder.glob("*.body"))


def test_nested_collections(app: Flask, client: FlaskClient, items: list[str]) -> None:
    with app.app_context():
        parent = db.session.execute(db.select(Collection).filter_by(slug="sach")).scalar_one()
        db.session.add(Collection(slug="sach-con", title={"vi": "Con"}, parent_id=parent.id))
        db.session.commit()
    top = client.get("/iiif/collection/top").get_json()
    assert [c["id"].rsplit("/", 1)[1] for c in top["items"]] == ["sach"]
    parent_doc = client.get("/iiif/collection/sach").get_json()
    assert parent_doc["items"][0]["id"].endswith("/iiif/collection/sach-con")


def test_record_and_pdf_download(client: FlaskClient, items: list[str]) -> None:
    record = client.get(f"/items/{items[0]}/record.json").get_json()
    assert record["title"]["vi"] == "Sách 0" and record["pages"] == 2
    pdf = client.get(f"/items/{items[0]}/download.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    import pypdfium2

    assert len(pypdfium2.PdfDocument(pdf.data)) == 2
    assert client.get(f"/items/{items[3]}/download.pdf").status_code == 404  # a draft


def test_item_page_offers_embed_snippet_and_drag_and_drop(
    client: FlaskClient, items: list[str]
) -> None:
    html = client.get(f"/items/{items[0]}").get_data(as_text=True)
    manifest = f"https://thuvien.example.vn/tangthu/iiif/{items[0]}/manifest"
    assert f'href="{manifest}?manifest=' in html
    assert "&lt;iframe src=&#34;https://thuvien.example.vn/tangthu/viewer/embed?manifest=" in html
    assert f"/items/{items[0]}/download.pdf" in html


def test_embed_page_refuses_hostile_manifest_urls(client: FlaskClient) -> None:
    ok = client.get("/viewer/embed?manifest=https://example.org/iiif/1/manifest")
    assert ok.status_code == 200 and "https://example.org/iiif/1/manifest" in ok.get_data(
        as_text=True
    )
    for bad in (
        "javascript:alert(1)",
        'https://x.org/m"><script>',
        "",
        "ftp://x.org/m",
        "https://" + "a" * 3000,
    ):
        assert client.get("/viewer/embed", query_string={"manifest": bad}).status_code == 400
        assert client.get("/viewer/clover", query_string={"manifest": bad}).status_code == 400


def test_script_in_metadata_never_reaches_the_manifest(
    app: Flask, client: FlaskClient, items: list[str]
) -> None:
    from repository import get_storage
    from repository.services.publish import publish_item
    from repository.web import publish_settings

    with app.test_request_context():
        item = db.session.get(Item, items[0])
        item.title = {"vi": "<script>alert('x')</script><b>Sách</b>"}
        item.dc = {"creator": [{"value": "<img src=x onerror=alert(1)>", "lang": ""}]}
        db.session.commit()
        publish_item(item, get_storage(), publish_settings())
    body = client.get(f"/iiif/{items[0]}/manifest").get_data(as_text=True)
    assert "script" not in body and "onerror" not in body
    page = client.get(f"/items/{items[0]}").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_table_of_contents_start_and_date_reach_the_manifest(
    app: Flask, client: FlaskClient, items: list[str], presentation_schema: dict[str, Any]
) -> None:
    from repository import get_storage
    from repository.services.publish import publish_item
    from repository.web import publish_settings

    with app.test_request_context():
        item = db.session.get(Item, items[0])
        first, second = (image.id for image in item.images)
        item.toc = [
            {
                "label": {"vi": "Quyển 1"},
                "pages": [first],
                "children": [{"label": {"vi": "Hồi 1"}, "pages": [second, "gone"]}],
            }
        ]
        item.start_image_id = second
        item.year_start, item.year_end = 1850, 1851
        item.dc = {
            "date": [{"value": "Tự Đức năm thứ 3", "lang": "vi"}],
            "language": [{"value": "lzh", "lang": ""}, {"value": "vi", "lang": ""}],
        }
        db.session.commit()
        publish_item(item, get_storage(), publish_settings())
    manifest = client.get(f"/iiif/{items[0]}/manifest").get_json()
    assert valid(manifest, presentation_schema)
    top = manifest["structures"][0]
    assert top["label"] == {"vi": ["Quyển 1"]}
    assert [entry["type"] for entry in top["items"]] == ["Canvas", "Range"]
    assert len(top["items"][1]["items"]) == 1  # a page that no longer exists is dropped
    assert manifest["start"]["id"].endswith(f"/canvas/{second}")
    assert manifest["navDate"] == "1850-01-01T00:00:00Z"
    dates = [m for m in manifest["metadata"] if m["label"]["en"] == ["Date"]]
    assert dates[0]["value"] == {"vi": ["Tự Đức năm thứ 3"]}
    languages = [m for m in manifest["metadata"] if m["label"]["en"] == ["Language"]]
    assert languages[0]["value"] == {"none": ["lzh", "vi"]}


def test_a_manifest_for_everyone_is_served_from_its_sidecar_with_no_query(
    app: Flask, client: FlaskClient, items: list[str]
) -> None:
    """The hot path: an item anyone may see says so in its own sidecar, and its stored
    manifest is sent with no SQL statement at all (counted on the engine)."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for url in (f"/iiif/{items[0]}/manifest", f"/iiif/2/{items[0]}/manifest"):
            response = client.get(url, headers={"Accept-Encoding": "gzip"})
            assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Cache-Control"] == "public, max-age=300"
        assert statements == []
        # The draft has no sidecar saying so: it goes the long way, to the database and 404.
        assert client.get(f"/iiif/{items[3]}/manifest").status_code == 404
        assert statements != []
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("change", ["staff", "embargo", "withdraw", "damaged", "hostile-id"])
def test_the_item_sidecar_follows_every_change_of_access(
    app: Flask, client: FlaskClient, items: list[str], change: str
) -> None:
    """Whatever hides an item hides its manifest at once, though the stored file is read
    with no query; a damaged sidecar only sends the request the long way."""
    from datetime import date, timedelta

    from repository import get_storage
    from repository.services.cataloguing import Actor, change_access
    from repository.services.publish import withdraw_item
    from repository.web import publish_settings

    url = f"/iiif/{items[0]}/manifest"
    assert client.get(url).status_code == 200
    with app.test_request_context():
        item = db.session.get(Item, items[0])
        assert item is not None
        storage, settings, actor = get_storage(), publish_settings(), Actor("curator")
        if change == "staff":
            change_access(item, "staff", None, actor, storage, settings)
        elif change == "embargo":
            until = date.today() + timedelta(days=30)
            change_access(item, item.access, until, actor, storage, settings)
        elif change == "withdraw":
            withdraw_item(item, storage, settings)
        elif change == "damaged":
            storage.put_bytes(f"item-policies/{items[0]}.json", b"{not json")
        else:  # a sidecar no request may name
            storage.put_bytes("item-policies/a.b.json", b'{"item": "a.b", "public": "full"}')
    if change == "damaged":  # the long way: the database says it is published and open
        assert client.get(url).status_code == 200
    elif change == "hostile-id":
        for hostile in ("a.b", "..", "a..b", "..%2f..%2fmanifests%2fx", "x" * 40, "%00"):
            response = client.get(f"/iiif/{hostile}/manifest")
            assert response.status_code == 404 and response.mimetype == "text/plain", hostile
    else:
        response = client.get(url)
        assert response.status_code == 404, change
        assert client.get(f"/iiif/2/{items[0]}/manifest").status_code == 404
