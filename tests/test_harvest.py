"""Harvesting OAI-PMH: our own endpoint served by a second app under gunicorn, then
partners that are slow, huge, malformed or hostile, served from a thread."""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository import create_app, get_storage
from repository.extensions import db
from repository.models import Collection, HarvestSource, Item
from repository.services.errors import ServiceError
from repository.services.harvest import HarvestLimits, harvest
from repository.web import publish_settings
from tests.helpers import reconfigure
from tests.servers import Server, free_port

SOURCE_NAME = "Thư viện Tỉnh Nam Định"
BOOKS = (
    ("kieu", "Truyện Kiều", "Nguyễn Du", "1870"),
    ("luc", "Lục Vân Tiên", "Nguyễn Đình Chiểu", "1889"),
    ("chinh-phu", "Chinh phụ ngâm", "Đặng Trần Côn", "1779"),
    ("cung-oan", "Cung oán ngâm khúc", "Nguyễn Gia Thiều", "1800"),
    ("hoa-tien", "Hoa tiên", "Nguyễn Huy Tự", "1788"),
)
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
LOCAL = (ipaddress.ip_network("127.0.0.0/8"),)  # where the tests' partners are served


def _source_ids(partner: Flask) -> dict[str, str]:
    with partner.app_context():
        return {item.title["vi"]: item.id for item in db.session.execute(db.select(Item)).scalars()}


def _harvested(app: Flask) -> dict[str, Item]:
    with app.app_context():
        items = db.session.execute(db.select(Item).where(Item.harvest_id.is_not(None))).scalars()
        found = {}
        for item in items:
            db.session.expunge(item)
            found[item.title["vi"]] = item
        return found


def _next_second() -> None:
    """OAI datestamps are whole seconds: what happens next is in a later one."""
    time.sleep(1.05 - time.time() % 1)


def test_harvest_our_own_endpoint(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path, make_pages: Any
) -> None:
    instance = tmp_path / "nam-dinh"
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(48)  # served under gunicorn, where weak ones are refused
    env = {
        "TANGTHU_INSTANCE_PATH": str(instance),
        "TANGTHU_SECRET_KEY": secret,
        "TANGTHU_PUBLIC_URL": web,
        "TANGTHU_STORAGE_URL": (instance / "storage").as_uri(),
        "TANGTHU_LIBRARY_NAME": json.dumps({"vi": SOURCE_NAME, "en": "Nam Dinh Library"}),
        "TANGTHU_OAI_PAGE_SIZE": "2",  # five records: three pages, two resumption tokens
    }
    partner = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "TESTING": True,
            "SECRET_KEY": secret,
            "PUBLIC_URL": web,
            "LIBRARY_NAME": {"vi": SOURCE_NAME, "en": "Nam Dinh Library"},
        }
    )
    with partner.app_context():
        db.create_all()
    lines = ["path,title,creator,date,subject"]
    for number, (folder, title, author, year) in enumerate(BOOKS):
        make_pages(count=1, width=200 + number, height=150, name=folder)
        lines.append(f"{folder},{title},{author},{year},Truyện thơ Nôm")
    batch = tmp_path / "batch.csv"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    partner_cli = partner.test_cli_runner()
    result = partner_cli.invoke(args=["ingest", str(batch), "--collection", "nom", "--publish"])
    assert result.exit_code == 0, result.output
    ids = _source_ids(partner)
    assert len(ids) == 5
    _next_second()

    with Server("repository_app", env, port=port):
        # First run, through the command line: everything arrives, over three pages.
        result = runner.invoke(args=["harvest", f"{web}/oai"])
        assert result.exit_code == 0, result.output
        assert "5 created, 0 updated, 0 deleted, 0 skipped (3 pages)" in result.output
        assert "page 3:" in result.output
        items = _harvested(app)
        assert set(items) == {title for _, title, _, _ in BOOKS}
        kieu = items["Truyện Kiều"]
        source_id = ids["Truyện Kiều"]
        assert kieu.harvest_id == f"oai:127.0.0.1:{source_id}"
        assert kieu.source_institution == SOURCE_NAME  # from Identify's repositoryName
        assert kieu.source_url == f"{web}/items/{source_id}"
        assert kieu.remote_manifest == f"{web}/iiif/{source_id}/manifest"
        assert kieu.dc["creator"] == [{"value": "Nguyễn Du", "lang": ""}]
        assert kieu.year_start == 1870 and kieu.status == "published"
        with app.app_context():
            source = db.session.execute(db.select(HarvestSource)).scalar_one()
            assert source.institution == "" and STAMP.fullmatch(source.harvested_until)
            assert source.last_message.startswith("complete: 5 created")
            first_until = source.harvested_until
            slug = db.session.get(Collection, source.collection_id).slug
            assert slug == f"harvest-127-0-0-1-{port}"
            assert {i.collection_id for i in items.values()} == {source.collection_id}
        found = client.get("/search?q=nguyen dinh chieu").get_data(as_text=True)
        assert f"/items/{items['Lục Vân Tiên'].id}" in found
        page = client.get(f"/items/{kieu.id}").get_data(as_text=True)
        assert SOURCE_NAME in page and f'href="{web}/items/{source_id}"' in page
        assert f'data-manifest="{web}/iiif/{source_id}/manifest"' in page
        # The remote manifest really is there.
        assert requests.get(kieu.remote_manifest, timeout=10).json()["type"] == "Manifest"

        # At the source: one more item is published, one is withdrawn.
        make_pages(count=1, width=260, height=150, name="van-te")
        args = ["ingest", str(tmp_path / "van-te"), "--collection", "nom", "--publish"]
        result = partner_cli.invoke(args=[*args, "--title", "Văn tế nghĩa sĩ Cần Giuộc"])
        assert result.exit_code == 0, result.output
        result = partner_cli.invoke(args=["withdraw", ids["Hoa tiên"]])
        assert result.exit_code == 0, result.output
        _next_second()

        # Second run, incremental: only the two changes are fetched.
        asked: list[str] = []
        session = requests.Session()
        session.hooks["response"].append(lambda response, *a, **k: asked.append(response.url))
        with app.app_context():
            source = db.session.execute(db.select(HarvestSource)).scalar_one()
            done = harvest(
                source,
                get_storage(),
                publish_settings(),
                session=session,
                limits=HarvestLimits(allow_networks=LOCAL),
            )
            assert (done.created, done.updated, done.deleted, done.skipped) == (1, 0, 1, 0)
            assert done.pages == 1
            assert source.harvested_until >= first_until
        listing = [url for url in asked if "verb=ListRecords" in url]
        assert len(listing) == 1 and f"from={first_until.replace(':', '%3A')}" in listing[0]
        items = _harvested(app)
        assert items["Hoa tiên"].status == "withdrawn"
        assert items["Văn tế nghĩa sĩ Cần Giuộc"].status == "published"
        assert client.get(f"/items/{items['Hoa tiên'].id}").status_code == 404
        assert f"/items/{items['Hoa tiên'].id}" not in client.get("/search?q=hoa tien").get_data(
            as_text=True
        )
        assert "Văn tế nghĩa sĩ" in client.get("/search?q=van te nghia si").get_data(as_text=True)

        # Third run: nothing changed, noRecordsMatch is a normal, empty answer.
        result = runner.invoke(args=["harvest", "--all"])
        assert result.exit_code == 0, result.output
        assert "0 created, 0 updated, 0 deleted, 0 skipped (1 pages)" in result.output
        with app.app_context():
            assert db.session.execute(db.select(db.func.count(Item.id))).scalar_one() == 6


# -- hostile partners ------------------------------------------------------------------

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
)
WHEN = "<responseDate>2030-01-02T03:04:05Z</responseDate><request>x</request>"


def _identify(granularity: str = "YYYY-MM-DDThh:mm:ssZ") -> bytes:
    return (
        f"{HEAD}{WHEN}<Identify><repositoryName>Đối tác</repositoryName>"
        "<baseURL>http://x/oai</baseURL><protocolVersion>2.0</protocolVersion>"
        "<adminEmail>a@b.vn</adminEmail><earliestDatestamp>2000-01-01</earliestDatestamp>"
        f"<deletedRecord>no</deletedRecord><granularity>{granularity}</granularity>"
        "</Identify></OAI-PMH>"
    ).encode()


def _record(identifier: str, title: str = "Sách", extra: str = "") -> str:
    return (
        f"<record><header><identifier>{identifier}</identifier>"
        "<datestamp>2030-01-01</datestamp></header><metadata>"
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:title xml:lang="vi">{title}</dc:title>{extra}'
        "</oai_dc:dc></metadata></record>"
    )


def _list(records: str, token: str = "") -> bytes:
    tail = f"<resumptionToken>{token}</resumptionToken>" if token else ""
    return f"{HEAD}{WHEN}<ListRecords>{records}{tail}</ListRecords></OAI-PMH>".encode()


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 2 else b"&lol;") * 10)
        for n in range(2, 10)
    )
    + b']><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><x>&lol9;</x></OAI-PMH>'
)


REDIRECTS = {
    "redirect": "file:///etc/passwd",
    "bounce": "/bounce",
    "inward": "http://10.20.30.40/oai",  # from an allowed host into a private network
    "metadata": "http://169.254.169.254/latest/meta-data/",  # the cloud's credentials
}


class Partner(BaseHTTPRequestHandler):
    """Each path is a partner with one way of misbehaving once asked for records."""

    protocol_version = "HTTP/1.0"
    asked: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, body: bytes, content_type: str = "text/xml; charset=utf-8") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: C901 - one small branch per partner
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        Partner.asked.append(self.path)
        kind = parts.path.strip("/")
        if query.get("verb") == "Identify":
            self._send(_identify("YYYY-MM-DD" if kind == "days" else "YYYY-MM-DDThh:mm:ssZ"))
            return
        try:
            self._records(kind, query)
        except OSError:
            pass  # the harvester hung up, as it should

    def _records(self, kind: str, query: dict[str, str]) -> None:
        if kind == "laughs":
            self._send(LAUGHS)
        elif kind == "slow":
            time.sleep(3)
            self._send(_list(_record("oai:slow:1")))
        elif kind == "endless":
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.end_headers()
            self.wfile.write(HEAD.encode())
            for _ in range(100):  # a few bytes at a time, each in time, never the end
                self.wfile.write(b"<!-- -->")
                self.wfile.flush()
                time.sleep(0.2)
        elif kind == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.end_headers()  # no Content-Length: only counting the bytes finds out
            self.wfile.write(HEAD.encode() + WHEN.encode() + b"<ListRecords>")
            for _ in range(40):
                self.wfile.write(_record("oai:huge:1", "x" * 60_000).encode())
        elif kind in REDIRECTS:
            self.send_response(302)
            self.send_header("Location", REDIRECTS[kind])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif kind == "malformed":
            self._send(f"{HEAD}{WHEN}<ListRecords><record>".encode())
        elif kind == "html":
            self._send(b"<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html")
        elif kind == "error":
            error = '<error code="badArgument">from is not a date</error>'
            self._send(f"{HEAD}{WHEN}{error}</OAI-PMH>".encode())
        elif kind == "loop":  # the first page is good, then the same token for ever
            self._send(_list(_record(f"oai:loop:{len(Partner.asked)}"), token="again"))
        elif kind == "days":
            self._send(f'{HEAD}{WHEN}<error code="noRecordsMatch">none</error></OAI-PMH>'.encode())
        elif kind == "mixed":
            records = (
                _record("oai:mixed:1", "Tốt", "<dc:identifier>javascript:alert(1)</dc:identifier>")
                + "<record><header><datestamp>2030-01-01</datestamp></header></record>"
                + "<record><header><identifier>oai:mixed:2</identifier></header></record>"
                + _record("oai:mixed:3", "")
                + _record("oai:" + "x" * 600)
                + _record("oai:mixed:4", "Cũng tốt", "<dc:date>khoảng năm 1850</dc:date>")
            )
            self._send(_list(records))
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def partners() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Partner)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


FAST = HarvestLimits(
    connect_timeout=2, read_timeout=1, deadline=2, max_bytes=1024 * 1024, allow_networks=LOCAL
)
BEFORE = "2020-01-01T00:00:00Z"


def _run(app: Flask, url: str, limits: HarvestLimits = FAST) -> Any:
    with app.app_context():
        collection = Collection(slug="doi-tac", title={"vi": "Đối tác"})
        db.session.add(collection)
        db.session.flush()
        source = HarvestSource(url=url, collection_id=collection.id, harvested_until=BEFORE)
        db.session.add(source)
        db.session.commit()
        try:
            return harvest(source, get_storage(), publish_settings(), limits=limits)
        except ServiceError as exc:
            return exc


@pytest.mark.parametrize(
    "kind, code, message",
    [
        ("laughs", "unsafeXml", "DOCTYPE or entity declarations is refused"),
        ("slow", "timeout", "no answer from"),
        ("endless", "timeout", "did not end in the time allowed"),
        ("huge", "tooLarge", "larger than 1048576 bytes"),
        ("malformed", "badXml", "not well-formed XML"),
        ("html", "unsafeXml", "DOCTYPE"),
        ("error", "badArgument", "from is not a date"),
        ("loop", "tokenLoop", "the same resumption token twice"),
        ("redirect", "badUrl", "only http and https addresses"),
        ("bounce", "httpError", "more than 5 redirects"),
        ("inward", "badUrl", "10.20.30.40 is a private or local address (private)"),
        ("metadata", "badUrl", "169.254.169.254 is a private or local address (link-local"),
    ],
)
def test_hostile_partners_fail_clearly(
    app: Flask, partners: str, kind: str, code: str, message: str
) -> None:
    started = time.monotonic()
    failure = _run(app, f"{partners}/{kind}")
    assert isinstance(failure, ServiceError), failure
    assert failure.code == code and message in str(failure)
    assert time.monotonic() - started < 8
    with app.app_context():
        source = db.session.execute(db.select(HarvestSource)).scalar_one()
        assert source.harvested_until == BEFORE  # the next run repeats the window
        assert source.last_message.startswith("failed after") and code in source.last_message
        kept = db.session.execute(db.select(Item)).scalars().all()
        # What a failed run stored stays: the loop's two pages were good.
        assert len(kept) == (2 if kind == "loop" else 0)
        assert all(item.status == "published" for item in kept)


def test_malformed_records_are_skipped_and_counted(app: Flask, partners: str) -> None:
    result = _run(app, f"{partners}/mixed")
    assert not isinstance(result, ServiceError), result
    assert (result.created, result.skipped, result.pages) == (2, 4, 1)
    assert any("no metadata" in p for p in result.problems)
    assert any("no dc:title" in p for p in result.problems)
    with app.app_context():
        items = {i.harvest_id: i for i in db.session.execute(db.select(Item)).scalars()}
        assert set(items) == {"oai:mixed:1", "oai:mixed:4"}
        assert items["oai:mixed:1"].source_url == ""  # a javascript: URL is never a link
        assert items["oai:mixed:1"].source_institution == "Đối tác"
        assert items["oai:mixed:4"].year_start == 1850
        source = db.session.execute(db.select(HarvestSource)).scalar_one()
        assert source.harvested_until == "2030-01-02T03:04:05Z"


def test_day_granularity_cuts_from(app: Flask, partners: str) -> None:
    Partner.asked.clear()
    result = _run(app, f"{partners}/days")
    assert not isinstance(result, ServiceError), result
    assert result.pages == 1 and result.created == 0
    listing = [path for path in Partner.asked if "ListRecords" in path]
    assert listing == ["/days?verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-01"]


def test_only_http_endpoints(app: Flask, runner: FlaskCliRunner) -> None:
    failure = _run(app, "file:///etc/passwd")
    assert isinstance(failure, ServiceError) and failure.code == "badUrl"
    result = runner.invoke(args=["harvest", "ftp://example.org/oai"])
    assert result.exit_code == 1 and "not an http(s) address" in result.output


# -- our own network -------------------------------------------------------------------

ALLOW_HINT = (
    "to harvest inside your own network, add it (e.g. {}) to TANGTHU_HARVEST_ALLOW_NETWORKS"
)


def _nothing_harvested(app: Flask, code: str) -> None:
    with app.app_context():
        source = db.session.execute(db.select(HarvestSource)).scalar_one()
        assert source.harvested_until == BEFORE
        assert (
            source.last_message.startswith("failed after 0 pages") and code in source.last_message
        )
        assert db.session.execute(db.select(Item)).scalars().all() == []


def test_a_local_partner_is_refused_unless_its_network_is_allowed(
    app: Flask, partners: str
) -> None:
    Partner.asked.clear()
    failure = _run(app, f"{partners}/mixed", replace(FAST, allow_networks=()))
    assert isinstance(failure, ServiceError), failure
    assert failure.code == "badUrl"
    assert "127.0.0.1 is a private or local address (loopback)" in failure.message
    assert ALLOW_HINT.format("127.0.0.1/32") in failure.message
    assert Partner.asked == []  # refused before it was asked anything
    _nothing_harvested(app, "badUrl")

    # Allowed, the same partner is harvested; one address is enough.
    with app.app_context():
        source = db.session.execute(db.select(HarvestSource)).scalar_one()
        only = (ipaddress.ip_network("127.0.0.1/32"),)
        result = harvest(
            source, get_storage(), publish_settings(), limits=replace(FAST, allow_networks=only)
        )
        assert (result.created, result.pages) == (2, 1)
        assert source.harvested_until == "2030-01-02T03:04:05Z"


@pytest.mark.parametrize(
    "address, shown",
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is"),  # cloud metadata
        ("http://[::1]:{port}/mixed", "::1 is"),
        ("http://[::ffff:10.0.0.1]/oai", "::ffff:a00:1 (that is, 10.0.0.1) is"),
        ("http://0.0.0.0:{port}/mixed", "0.0.0.0 is"),
        ("http://localhost:{port}/mixed", "localhost resolves to"),
    ],
)
def test_local_addresses_are_refused_by_default(
    app: Flask, partners: str, address: str, shown: str
) -> None:
    """Names, literal addresses and IPv6 forms alike, before a request is sent."""
    Partner.asked.clear()
    port = urlsplit(partners).port
    failure = _run(app, address.format(port=port), replace(FAST, allow_networks=()))
    assert isinstance(failure, ServiceError), failure
    assert failure.code == "badUrl", failure
    assert f"{shown} " in failure.message and "a private or local address" in failure.message
    assert "TANGTHU_HARVEST_ALLOW_NETWORKS" in failure.message
    assert Partner.asked == []
    _nothing_harvested(app, "badUrl")


def test_ipv6_loopback_is_not_in_an_ipv4_allowed_network(app: Flask, partners: str) -> None:
    """127.0.0.0/8 is allowed (FAST): that opens no other local address."""
    port = urlsplit(partners).port
    failure = _run(app, f"http://[::1]:{port}/mixed")
    assert isinstance(failure, ServiceError) and failure.code == "badUrl", failure
    assert "::1 is a private or local address (loopback)" in failure.message
    assert ALLOW_HINT.format("::1/128") in failure.message


def test_a_name_that_does_not_resolve_fails_clearly(app: Flask) -> None:
    failure = _run(app, "http://no-such-host.invalid/oai")
    assert isinstance(failure, ServiceError), failure
    assert failure.code == "httpError"
    assert "the name no-such-host.invalid does not resolve" in failure.message
    _nothing_harvested(app, "httpError")


def test_the_command_reads_the_allowed_networks(
    app: Flask, runner: FlaskCliRunner, partners: str
) -> None:
    url = f"{partners}/mixed"
    reconfigure(app, HARVEST_ALLOW_NETWORKS=[])  # the default
    result = runner.invoke(args=["harvest", url])
    assert result.exit_code == 1, result.output
    assert "harvest failed" in result.output and "127.0.0.1 is a private or local" in result.output
    assert "Traceback" not in result.output

    # As TANGTHU_HARVEST_ALLOW_NETWORKS="10.0.0.0/8,127.0.0.1/32" gives it: one string.
    reconfigure(app, HARVEST_ALLOW_NETWORKS="10.0.0.0/8, 127.0.0.1/32")
    result = runner.invoke(args=["harvest", url])
    assert result.exit_code == 0, result.output
    assert "2 created" in result.output


@pytest.mark.parametrize(
    "setting, wrong",
    [
        ("10.0.0.0/8,10.0.0.0/33", "'10.0.0.0/33' is not a network"),
        (["127.0.0.0/8", "intranet"], "'intranet' is not a network"),
        (10, "expected a list of networks"),
    ],
)
def test_a_wrong_allowed_network_stops_the_app(
    app_config: dict[str, Any], setting: Any, wrong: str
) -> None:
    """Settings are checked once, when the app is made: nothing runs with a wrong one."""
    with pytest.raises(ValueError) as refused:
        create_app({**app_config, "HARVEST_ALLOW_NETWORKS": setting})
    assert str(refused.value).startswith("TANGTHU_HARVEST_ALLOW_NETWORKS: ")
    assert wrong in str(refused.value)


def test_the_environment_variable_is_read(
    app_config: dict[str, Any], partners: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANGTHU_HARVEST_ALLOW_NETWORKS", "192.168.1.0/24,127.0.0.0/8")
    config = {k: v for k, v in app_config.items() if k != "HARVEST_ALLOW_NETWORKS"}
    from_env = create_app(config)
    try:
        result = from_env.test_cli_runner().invoke(args=["harvest", f"{partners}/mixed"])
        assert result.exit_code == 0, result.output
    finally:
        with from_env.app_context():
            db.engine.dispose()
    monkeypatch.setenv("TANGTHU_HARVEST_ALLOW_NETWORKS", "127.0.0.0/8,fd00::/8,nonsense")
    with pytest.raises(ValueError, match="TANGTHU_HARVEST_ALLOW_NETWORKS: 'nonsense' is not a"):
        create_app(config)


class _Says(BaseHTTPRequestHandler):
    """Answers with which of two servers it is, and the Host header it was sent."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        body = f"{self.server.name} {self.headers['Host']}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_the_connection_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name answers an allowed address when checked, then another.

    The rebinding DNS server is simulated by patching socket.getaddrinfo, a fault the
    real parts cannot produce here; the two servers and the HTTP between are real."""
    import socket

    from repository.services.safe_fetch import fetch_bounded

    servers = []
    checked = ThreadingHTTPServer(("127.0.0.2", 0), _Says)
    port = checked.server_address[1]
    rebound = ThreadingHTTPServer(("127.0.0.1", port), _Says)
    for server, name in ((checked, "checked"), (rebound, "rebound")):
        server.name = name  # type: ignore[attr-defined]
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    real = socket.getaddrinfo
    answers = iter(["127.0.0.2"])

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "partner.example":
            return real(next(answers, "127.0.0.1"), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        fetched = fetch_bounded(
            requests.Session(),
            f"http://partner.example:{port}/oai",
            connect_timeout=2,
            read_timeout=2,
            allow_networks=(ipaddress.ip_network("127.0.0.2/32"),),
        )
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert fetched.body.decode() == f"checked partner.example:{port}"
    assert fetched.url == f"http://partner.example:{port}/oai"
