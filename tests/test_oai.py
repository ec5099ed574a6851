"""OAI-PMH 2.0 at /oai: every verb, paging, dates, deletions, refusals and real harvesters.

Every answer any test here receives is validated against the official OAI-PMH schema.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sickle import Sickle
from werkzeug.datastructures import MultiDict

from repository import create_app
from repository.extensions import db
from repository.models import Collection, Item
from repository.services.oai import Position, Selection, make_token
from tests.helpers import reconfigure
from tests.servers import Server, free_port

NS = {
    "o": "http://www.openarchives.org/OAI/2.0/",
    "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "marc": "http://www.loc.gov/MARC21/slim",
    "id": "http://www.openarchives.org/OAI/2.0/oai-identifier",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
HOST = "127.0.0.1"  # of the default PUBLIC_URL, http://127.0.0.1:8000
BASE = "http://127.0.0.1:8000"
Pairs = list[tuple[str, str]]


@pytest.fixture(scope="session")
def oai_schema(standards: Path) -> etree.XMLSchema:
    path = standards / "OAI-PMH.xsd"
    if not path.exists():
        pytest.fail(f"the OAI-PMH schema is missing: expected {path}")
    return etree.XMLSchema(etree.parse(str(path)))


def check(schema: etree.XMLSchema, body: bytes, content_type: str) -> etree._Element:
    """Parse an answer, insisting on the content type and on the schema."""
    assert content_type == "text/xml; charset=utf-8"
    root = etree.fromstring(body)
    assert schema.validate(root), f"{schema.error_log}\n{body[:2000]!r}"
    return root


class Harvester:
    """Requests to /oai through the test client, by GET or POST, each answer validated."""

    def __init__(self, client: FlaskClient, schema: etree.XMLSchema) -> None:
        self.client = client
        self.schema = schema

    def __call__(self, pairs: Pairs | None = None, method: str = "GET", **args: str) -> Any:
        query = MultiDict(pairs if pairs is not None else list(args.items()))
        if method == "POST":
            response = self.client.post("/oai", data=query)
        else:
            response = self.client.get("/oai", query_string=query)
        assert response.status_code == 200
        return check(self.schema, response.data, response.content_type)


@pytest.fixture
def oai(client: FlaskClient, oai_schema: etree.XMLSchema) -> Harvester:
    return Harvester(client, oai_schema)


def error_code(root: etree._Element) -> str | None:
    found = root.find("o:error", NS)
    return None if found is None else found.get("code")


def identifiers(root: etree._Element) -> list[str]:
    return [node.text for node in root.iterfind(".//o:header/o:identifier", NS)]


def oai_id(item_id: str) -> str:
    return f"oai:{HOST}:{item_id}"


@dataclass(frozen=True)
class Catalogue:
    visible: dict[str, datetime]  # item id → datestamp, for every harvestable item
    kieu: str  # in sach:han-nom, fully described
    hidden: tuple[str, ...]  # drafts, staff, embargoed, withdrawn before publication


def _at(day: int, hour: int = 8, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute, second)


@pytest.fixture
def catalogue(app: Flask) -> Catalogue:
    """Collections sach > han-nom, and bao; items in every state, with known datestamps."""
    with app.app_context():
        sach = Collection(slug="sach", title={"vi": "Sách cổ", "en": "Old books"})
        han_nom = Collection(
            slug="han-nom",
            title={"en": "Hán Nôm", "vi": "Sách Hán Nôm"},
            description={"vi": "Sách chữ Hán và chữ Nôm", "en": "Books in Hán and Nôm"},
            parent=sach,
        )
        bao = Collection(slug="bao", title={"en": "Newspapers"})
        secret = Collection(slug="mat", title={"vi": "Kho mật"})
        db.session.add_all([sach, han_nom, bao, secret])
        kieu = Item(
            collection=han_nom,
            title={"vi": "Truyện Kiều", "en": "The Tale of Kiều"},
            summary={"vi": "Truyện thơ Nôm của Nguyễn Du.", "en": "A Nôm verse novel."},
            dc={
                "creator": [{"value": "Nguyễn Du", "lang": "vi"}],
                "contributor": [{"value": "Kiều Oánh Mậu", "lang": "vi"}],
                "subject": [{"value": "Thơ Nôm", "lang": "vi"}],
                "language": [{"value": "vi", "lang": "none"}],
                "date": [{"value": "1871", "lang": "none"}],
                "publisher": [{"value": "Quan Văn Đường", "lang": "vi"}],
                "identifier": [{"value": "R.953", "lang": "none"}],
            },
            rights="http://creativecommons.org/publicdomain/mark/1.0/",
            year_start=1871,
            status="published",
            published_at=_at(2),
            updated_at=_at(3),
        )
        items = [kieu]
        published = [
            (sach, _at(5)),
            (bao, _at(7)),
            (han_nom, _at(7)),  # the same instant: the id breaks the tie
            (bao, _at(9, 23, 59, 59)),
            (sach, _at(12)),
        ]
        for number, (collection, stamp) in enumerate(published):
            items.append(
                Item(
                    collection=collection,
                    title={"vi": f"Tài liệu {number}"},
                    access="restricted" if number == 1 else "open",
                    status="published",
                    published_at=stamp,
                    updated_at=stamp,
                )
            )
        hidden = [
            Item(collection=sach, title={"vi": "Bản nháp"}, updated_at=_at(1)),
            Item(
                collection=secret,
                title={"vi": "Nội bộ"},
                access="staff",
                status="published",
                published_at=_at(1),
                updated_at=_at(1),
            ),
            Item(
                collection=sach,
                title={"vi": "Chưa đến hạn"},
                embargo_until=date.today() + timedelta(days=30),
                status="published",
                published_at=_at(1),
                updated_at=_at(1),
            ),
            Item(collection=bao, title={"vi": "Rút trước khi công bố"}, status="withdrawn"),
        ]
        db.session.add_all(items + hidden)
        db.session.commit()
        return Catalogue(
            {item.id: item.updated_at for item in items},
            kieu.id,
            tuple(item.id for item in hidden),
        )


def harvest(
    oai: Harvester, verb: str, method: str = "GET", **args: str
) -> tuple[list[str], list[etree._Element]]:
    """Follow the resumption tokens to the end: every identifier, and every list element."""
    pages = []
    found: list[str] = []
    root = oai(verb=verb, method=method, **args)
    while True:
        assert error_code(root) is None, etree.tostring(root)
        listing = root.find(f"o:{verb}", NS)
        pages.append(listing)
        found += identifiers(listing)
        token = listing.find("o:resumptionToken", NS)
        if token is None or not token.text:
            return found, pages
        root = oai(verb=verb, method=method, resumptionToken=token.text)


# -- the six verbs -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_identify(oai: Harvester, catalogue: Catalogue, method: str) -> None:
    root = oai(verb="Identify", method=method)
    assert root.find("o:request", NS).attrib == {"verb": "Identify"}
    assert root.find("o:request", NS).text == f"{BASE}/oai"
    identify = root.find("o:Identify", NS)
    assert identify.findtext("o:repositoryName", namespaces=NS) == "Thư viện Tàng Thư"
    assert identify.findtext("o:baseURL", namespaces=NS) == f"{BASE}/oai"
    assert identify.findtext("o:protocolVersion", namespaces=NS) == "2.0"
    assert identify.findtext("o:deletedRecord", namespaces=NS) == "persistent"
    assert identify.findtext("o:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    # The draft, staff and embargoed items are older, but do not exist for harvesters.
    assert identify.findtext("o:earliestDatestamp", namespaces=NS) == "2024-01-03T08:00:00Z"
    response_date = root.findtext("o:responseDate", namespaces=NS)
    now = datetime.now(UTC).replace(tzinfo=None)
    assert abs(datetime.strptime(response_date, "%Y-%m-%dT%H:%M:%SZ") - now) < timedelta(seconds=30)


def test_identify_describes_the_identifiers_of_a_named_host(
    app: Flask, oai: Harvester, catalogue: Catalogue
) -> None:
    reconfigure(
        app, PUBLIC_URL="https://thuvien.example.vn", OAI_ADMIN_EMAIL="oai@thuvien.example.vn"
    )
    root = oai(verb="Identify")
    assert root.findtext(".//o:adminEmail", namespaces=NS) == "oai@thuvien.example.vn"
    assert root.findtext(".//id:repositoryIdentifier", namespaces=NS) == "thuvien.example.vn"
    assert root.findtext(".//id:delimiter", namespaces=NS) == ":"
    record = oai(
        verb="GetRecord",
        identifier=f"oai:thuvien.example.vn:{catalogue.kieu}",
        metadataPrefix="oai_dc",
    )
    assert identifiers(record) == [f"oai:thuvien.example.vn:{catalogue.kieu}"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_list_metadata_formats(oai: Harvester, catalogue: Catalogue, method: str) -> None:
    for args in ({}, {"identifier": oai_id(catalogue.kieu)}):
        root = oai(verb="ListMetadataFormats", method=method, **args)
        prefixes = root.xpath("//o:metadataPrefix/text()", namespaces=NS)
        assert prefixes == ["oai_dc", "marcxml"]
        namespaces = root.xpath("//o:metadataNamespace/text()", namespaces=NS)
        assert "http://www.loc.gov/MARC21/slim" in namespaces
    root = oai(verb="ListMetadataFormats", method=method, identifier=oai_id("khong-co"))
    assert error_code(root) == "idDoesNotExist"
    assert root.find("o:request", NS).get("identifier") == oai_id("khong-co")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_list_sets_are_the_collections_nested(
    oai: Harvester, catalogue: Catalogue, method: str
) -> None:
    root = oai(verb="ListSets", method=method)
    sets = {
        node.findtext("o:setSpec", namespaces=NS): node.findtext("o:setName", namespaces=NS)
        for node in root.iterfind(".//o:set", NS)
    }
    # 'mat' holds only a staff item: harvesters are not told of it.
    assert sets == {"bao": "Newspapers", "sach": "Sách cổ", "sach:han-nom": "Sách Hán Nôm"}
    described = root.xpath(
        "//o:set[o:setSpec='sach:han-nom']/o:setDescription//dc:description", namespaces=NS
    )
    assert [(d.text, d.get(XML_LANG)) for d in described][0] == ("Sách chữ Hán và chữ Nôm", "vi")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_get_record_oai_dc(oai: Harvester, catalogue: Catalogue, method: str) -> None:
    root = oai(
        verb="GetRecord", method=method, identifier=oai_id(catalogue.kieu), metadataPrefix="oai_dc"
    )
    request = root.find("o:request", NS)
    assert request.attrib == {
        "verb": "GetRecord",
        "identifier": oai_id(catalogue.kieu),
        "metadataPrefix": "oai_dc",
    }
    header = root.find(".//o:header", NS)
    assert header.get("status") is None
    assert header.findtext("o:datestamp", namespaces=NS) == "2024-01-03T08:00:00Z"
    assert header.xpath("o:setSpec/text()", namespaces=NS) == ["sach", "sach:han-nom"]
    dc = root.find(".//oai_dc:dc", NS)

    def values(element: str) -> list[tuple[str, str | None]]:
        return [(n.text, n.get(XML_LANG)) for n in dc.iterfind(f"dc:{element}", NS)]

    assert ("Truyện Kiều", "vi") in values("title")
    assert ("The Tale of Kiều", "en") in values("title")
    assert values("creator") == [("Nguyễn Du", "vi")]
    assert ("Truyện thơ Nôm của Nguyễn Du.", "vi") in values("description")
    assert values("date") == [("1871", None)]
    assert values("language") == [("vi", None)]
    ids = [text for text, _ in values("identifier")]
    assert ids == [
        "R.953",
        f"{BASE}/items/{catalogue.kieu}",
        f"{BASE}/iiif/{catalogue.kieu}/manifest",
    ]
    assert values("rights") == [("http://creativecommons.org/publicdomain/mark/1.0/", None)]
    assert values("type") == [("Text", "en")]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_get_record_marcxml(oai: Harvester, catalogue: Catalogue, method: str) -> None:
    root = oai(
        verb="GetRecord", method=method, identifier=oai_id(catalogue.kieu), metadataPrefix="marcxml"
    )
    marc = root.find(".//marc:record", NS)
    assert marc is not None
    assert marc.findtext("marc:leader", namespaces=NS)[5:8] == "nam"
    assert marc.findtext("marc:controlfield[@tag='001']", namespaces=NS) == catalogue.kieu
    fixed = marc.findtext("marc:controlfield[@tag='008']", namespaces=NS)
    assert len(fixed) == 40 and fixed[6:11] == "s1871" and fixed[35:38] == "vie"

    def subfields(tag: str, code: str) -> list[str]:
        path = f"marc:datafield[@tag='{tag}']/marc:subfield[@code='{code}']"
        return [node.text for node in marc.iterfind(path, NS)]

    assert subfields("245", "a") == ["Truyện Kiều"]
    assert subfields("246", "a") == ["The Tale of Kiều"]
    assert subfields("100", "a") == ["Nguyễn Du"]
    assert subfields("700", "a") == ["Kiều Oánh Mậu"]
    assert subfields("264", "b") == ["Quan Văn Đường"] and subfields("264", "c") == ["1871"]
    assert subfields("520", "a")[0] == "Truyện thơ Nôm của Nguyễn Du."
    assert subfields("650", "a") == ["Thơ Nôm"]
    assert subfields("540", "u") == ["http://creativecommons.org/publicdomain/mark/1.0/"]
    assert subfields("856", "u") == [
        f"{BASE}/items/{catalogue.kieu}",
        f"{BASE}/iiif/{catalogue.kieu}/manifest",
    ]
    assert subfields("856", "q")[1] == "application/ld+json"


@pytest.mark.parametrize("verb", ["ListIdentifiers", "ListRecords"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_lists_hold_every_harvestable_item_in_datestamp_order(
    oai: Harvester, catalogue: Catalogue, verb: str, method: str
) -> None:
    for prefix in ("oai_dc", "marcxml"):
        root = oai(verb=verb, method=method, metadataPrefix=prefix)
        found = identifiers(root)
        expected = sorted(catalogue.visible, key=lambda i: (catalogue.visible[i], i))
        assert found == [oai_id(i) for i in expected]
        assert root.find(".//o:resumptionToken", NS) is None  # one page: no token at all
        if verb == "ListRecords":
            assert len(root.findall(".//o:metadata", NS)) == len(expected)


def test_sets_include_the_sets_beneath_them(oai: Harvester, catalogue: Catalogue) -> None:
    def in_set(spec: str) -> set[str] | str | None:
        root = oai(verb="ListIdentifiers", metadataPrefix="oai_dc", set=spec)
        return error_code(root) or set(identifiers(root))

    everything = in_set("sach")
    child = in_set("sach:han-nom")
    assert oai_id(catalogue.kieu) in child
    assert child < everything and len(everything) == 4 and len(child) == 2
    assert len(in_set("bao")) == 2
    assert in_set("han-nom") == "noRecordsMatch"  # a child is named with its parent
    assert in_set("khong-co") == "noRecordsMatch"
    assert in_set("mat") == "noRecordsMatch"  # its only item is staff


# -- flow control --------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["ListIdentifiers", "ListRecords"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_resumption_pages_everything_once(
    app: Flask, oai: Harvester, catalogue: Catalogue, verb: str, method: str
) -> None:
    reconfigure(app, OAI_PAGE_SIZE=2)
    found, pages = harvest(oai, verb, method, metadataPrefix="oai_dc")
    expected = sorted(catalogue.visible, key=lambda i: (catalogue.visible[i], i))
    assert found == [oai_id(i) for i in expected]  # no duplicates, no gaps, in order
    assert len(pages) == 3
    tokens = [page.find("o:resumptionToken", NS) for page in pages]
    assert [t.get("cursor") for t in tokens] == ["0", "2", "4"]
    assert {t.get("completeListSize") for t in tokens} == {"6"}
    assert all(t.text for t in tokens[:-1]) and tokens[-1].text is None
    assert tokens[-1].get("expirationDate") is None
    expires = datetime.strptime(tokens[0].get("expirationDate"), "%Y-%m-%dT%H:%M:%SZ")
    assert timedelta(hours=23) < expires - datetime.now(UTC).replace(tzinfo=None)


def test_resumption_keeps_the_set_and_dates(
    app: Flask, oai: Harvester, catalogue: Catalogue
) -> None:
    reconfigure(app, OAI_PAGE_SIZE=1)
    found, pages = harvest(
        oai, "ListRecords", metadataPrefix="marcxml", set="sach", until="2024-01-07"
    )
    assert len(found) == len(set(found)) == 3 == len(pages)
    assert all(page.find(".//marc:record", NS) is not None for page in pages)
    assert pages[-1].find("o:resumptionToken", NS).get("completeListSize") == "3"


def test_a_set_of_several_collections_pages_in_datestamp_order(
    app: Flask, oai: Harvester, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A set's collections are walked each along its own index and merged: with windows of
    two rows and pages of one record, the merge runs many times, and the parent set still
    lists its own and its child's records once each, in (datestamp, id) order."""
    from repository.services.oai import verbs

    members = set(identifiers(oai(verb="ListIdentifiers", metadataPrefix="oai_dc", set="sach")))
    reconfigure(app, OAI_PAGE_SIZE=1)
    monkeypatch.setattr(verbs, "WINDOW", 2)
    found, pages = harvest(oai, "ListIdentifiers", metadataPrefix="oai_dc", set="sach")
    in_set = [i for i in catalogue.visible if oai_id(i) in members]
    expected = sorted(in_set, key=lambda i: (catalogue.visible[i], i))
    assert len(expected) == 4 and found == [oai_id(i) for i in expected]
    assert len(pages) == 4


def test_a_list_page_reads_whole_rows_once_and_only_for_records_not_written(
    app: Flask, oai: Harvester, catalogue: Catalogue
) -> None:
    """A ListRecords page loads what headers need; whole rows (their JSON) in one statement
    for the records not kept as written, and none when every record is."""
    from sqlalchemy import event

    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        whole = []
        for _ in range(2):
            statements.clear()
            root = oai(verb="ListRecords", metadataPrefix="oai_dc")
            assert len(root.findall(".//o:metadata", NS)) == len(catalogue.visible)
            whole.append([s for s in statements if "item.summary" in s])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(whole[0]) == 1 and whole[1] == []


def test_records_changed_during_a_harvest_come_again_not_missed(
    app: Flask, oai: Harvester, catalogue: Catalogue
) -> None:
    reconfigure(app, OAI_PAGE_SIZE=2)
    first = oai(verb="ListIdentifiers", metadataPrefix="oai_dc")
    seen = identifiers(first)
    with app.app_context():
        item = db.session.get(Item, seen[0].rsplit(":", 1)[1])
        item.title = {"vi": "Truyện Kiều (sửa)"}
        db.session.commit()
    token = first.findtext(".//o:resumptionToken", namespaces=NS)
    root = oai(verb="ListIdentifiers", resumptionToken=token)
    while True:
        seen += identifiers(root)
        token = root.findtext(".//o:resumptionToken", namespaces=NS)
        if not token:
            break
        root = oai(verb="ListIdentifiers", resumptionToken=token)
    assert set(seen) == {oai_id(i) for i in catalogue.visible}
    assert seen[-1] == seen[0]  # changed: it comes again, at the end


@pytest.mark.parametrize("prefix", ["oai_dc", "marcxml"])
def test_a_record_kept_as_written_changes_with_its_item(
    app: Flask, oai: Harvester, catalogue: Catalogue, prefix: str
) -> None:
    """Records are kept as written (services.oai.records.WRITTEN), by the item's
    updated_at: an edit shows at once, in GetRecord and in the lists."""

    def titles() -> list[str]:
        one = oai(verb="GetRecord", identifier=oai_id(catalogue.kieu), metadataPrefix=prefix)
        listed = oai(verb="ListRecords", metadataPrefix=prefix)
        record = listed.xpath(
            "//o:record[o:header/o:identifier=$id]", namespaces=NS, id=oai_id(catalogue.kieu)
        )[0]
        return [
            " ".join(etree.tostring(node, method="text", encoding="unicode").split())
            for node in (one.find(".//o:metadata", NS), record.find("o:metadata", NS))
        ]

    before = titles()
    assert all("Truyện Kiều" in text and "(bản sửa)" not in text for text in before)
    assert titles() == before  # asked again: the kept record, the same
    with app.app_context():
        item = db.session.get(Item, catalogue.kieu)
        item.title = {"vi": "Truyện Kiều (bản sửa)"}
        db.session.commit()
    assert all("Truyện Kiều (bản sửa)" in text for text in titles())


def test_bad_resumption_tokens(app: Flask, oai: Harvester, catalogue: Catalogue) -> None:
    reconfigure(app, OAI_PAGE_SIZE=2)
    root = oai(verb="ListRecords", metadataPrefix="oai_dc")
    token = root.findtext(".//o:resumptionToken", namespaces=NS)
    assert token
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    selection = Selection("ListRecords", "oai_dc")
    position = Position(datetime(2024, 1, 3, 8), catalogue.kieu, 2)
    with app.app_context():
        from repository.oai import oai_settings

        settings = oai_settings()
        now = datetime.now(UTC)
        expired = make_token(selection, position, settings, now - timedelta(hours=25))
        fresh = make_token(selection, position, settings, now - timedelta(hours=23))
        foreign = make_token(
            selection, position, settings.__class__(settings.urls, "x", "another secret"), now
        )
    for verb, bad in (
        ("ListRecords", "khong-phai-token"),
        ("ListRecords", ""),
        ("ListRecords", tampered),
        ("ListRecords", expired),
        ("ListRecords", foreign),
        ("ListIdentifiers", token),  # a token of another verb
        ("ListSets", token),  # sets come whole
    ):
        root = oai(verb=verb, resumptionToken=bad)
        assert error_code(root) == "badResumptionToken", bad
        # The request was understood: it is echoed.
        assert root.find("o:request", NS).attrib == {"verb": verb, "resumptionToken": bad}
    root = oai(verb="ListRecords", resumptionToken=fresh)
    assert error_code(root) is None
    assert root.find(".//o:resumptionToken", NS).get("cursor") == "2"


# -- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "until", "count"),
    [
        ("2024-01-07", None, 4),  # a day from its first second
        (None, "2024-01-07", 4),  # a day to its last second
        ("2024-01-07", "2024-01-07", 2),
        ("2024-01-07T08:00:00Z", "2024-01-07T08:00:00Z", 2),  # seconds, inclusive
        ("2024-01-07T08:00:01Z", "2024-01-09T23:59:59Z", 1),
        ("2024-01-09T23:59:59Z", None, 2),
        (None, "2024-01-03T07:59:59Z", 0),
        ("2030-01-01", None, 0),
        ("2024-01-01", "2024-12-31", 6),
    ],
)
def test_from_and_until(
    oai: Harvester, catalogue: Catalogue, start: str | None, until: str | None, count: int
) -> None:
    args = {"metadataPrefix": "oai_dc"}
    if start:
        args["from"] = start
    if until:
        args["until"] = until
    root = oai(verb="ListIdentifiers", **args)
    if count == 0:
        assert error_code(root) == "noRecordsMatch"
        assert root.find("o:request", NS).get("metadataPrefix") == "oai_dc"
        return
    found = identifiers(root)
    assert len(found) == count
    low = datetime.strptime(start[:10], "%Y-%m-%d") if start else datetime.min
    stamps = root.xpath("//o:header/o:datestamp/text()", namespaces=NS)
    assert all(datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ") >= low for s in stamps)


# -- deleted and hidden items --------------------------------------------------------


def test_withdrawn_items_stay_as_deleted_records(
    oai: Harvester, runner: FlaskCliRunner, catalogue: Catalogue
) -> None:
    result = runner.invoke(args=["withdraw", catalogue.kieu])
    assert result.exit_code == 0, result.output
    root = oai(verb="ListIdentifiers", metadataPrefix="oai_dc")
    headers = {
        h.findtext("o:identifier", namespaces=NS): h for h in root.iterfind(".//o:header", NS)
    }
    assert len(headers) == len(catalogue.visible)
    withdrawn = headers[oai_id(catalogue.kieu)]
    assert withdrawn.get("status") == "deleted"
    assert withdrawn.findtext("o:datestamp", namespaces=NS) > "2024-01-03T08:00:00Z"
    assert list(headers)[-1] == oai_id(catalogue.kieu)  # a deletion is the newest change
    assert sum(h.get("status") == "deleted" for h in headers.values()) == 1

    for prefix in ("oai_dc", "marcxml"):
        record = oai(verb="GetRecord", identifier=oai_id(catalogue.kieu), metadataPrefix=prefix)
        assert record.find(".//o:header", NS).get("status") == "deleted"
        assert record.find(".//o:metadata", NS) is None
        assert record.xpath("//o:header/o:setSpec/text()", namespaces=NS) == [
            "sach",
            "sach:han-nom",
        ]
    records = oai(verb="ListRecords", metadataPrefix="oai_dc")
    deleted = records.xpath("//o:record[o:header/@status='deleted']", namespaces=NS)
    assert len(deleted) == 1 and deleted[0].find("o:metadata", NS) is None
    assert len(records.findall(".//o:metadata", NS)) == len(catalogue.visible) - 1
    formats = oai(verb="ListMetadataFormats", identifier=oai_id(catalogue.kieu))
    assert error_code(formats) is None


def test_staff_and_embargoed_items_never_appear(
    oai: Harvester, runner: FlaskCliRunner, catalogue: Catalogue
) -> None:
    result = runner.invoke(args=["access", catalogue.kieu, "staff"])
    assert result.exit_code == 0, result.output
    others = [i for i in catalogue.visible if i != catalogue.kieu]
    embargoed = others[0]
    until = (date.today() + timedelta(days=10)).isoformat()
    result = runner.invoke(args=["access", embargoed, "open", "--embargo", until])
    assert result.exit_code == 0, result.output
    withdrawn_staff = others[1]
    for args in (["access", withdrawn_staff, "staff"], ["withdraw", withdrawn_staff]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output

    gone = {catalogue.kieu, embargoed, withdrawn_staff, *catalogue.hidden}
    for verb in ("ListIdentifiers", "ListRecords"):
        found = set(identifiers(oai(verb=verb, metadataPrefix="oai_dc")))
        assert found == {oai_id(i) for i in others[2:]}
    for item_id in gone:
        root = oai(verb="GetRecord", identifier=oai_id(item_id), metadataPrefix="oai_dc")
        assert error_code(root) == "idDoesNotExist"
        root = oai(verb="ListMetadataFormats", identifier=oai_id(item_id))
        assert error_code(root) == "idDoesNotExist"
    sets = oai(verb="ListSets").xpath("//o:setSpec/text()", namespaces=NS)
    assert "sach:han-nom" in sets  # still holds a published item
    assert "mat" not in sets


# -- refusals ------------------------------------------------------------------------


LONG = "a" * 5000
BAD_REQUESTS: list[tuple[Pairs, str]] = [
    ([], "badVerb"),
    ([("verb", "")], "badVerb"),
    ([("verb", "Listrecords")], "badVerb"),
    ([("verb", "ListRecords"), ("verb", "ListRecords"), ("metadataPrefix", "oai_dc")], "badVerb"),
    ([("verb", "Identify"), ("verb", "ListSets")], "badVerb"),
    ([("verb", LONG)], "badVerb"),
    ([("verb", "Identify"), ("foo", "bar")], "badArgument"),
    ([("verb", "Identify"), ("identifier", oai_id("x"))], "badArgument"),
    ([("verb", "ListSets"), ("set", "sach")], "badArgument"),
    ([("verb", "ListRecords")], "badArgument"),
    ([("verb", "ListIdentifiers"), ("from", "2024-01-01")], "badArgument"),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("metadataPrefix", "oai_dc")],
        "badArgument",
    ),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("set", "a"), ("set", "b")],
        "badArgument",
    ),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("from", "2024-13-45")],
        "badArgument",
    ),
    ([("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("from", "yesterday")], "badArgument"),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("until", "2024-01-01T00:00:00")],
        "badArgument",
    ),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("until", "2024-02-30")],
        "badArgument",
    ),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("from", "2024-01-01T25:00:00Z")],
        "badArgument",
    ),
    (
        [
            ("verb", "ListRecords"),
            ("metadataPrefix", "oai_dc"),
            ("from", "2024-01-01T00:00:00+07:00"),
        ],
        "badArgument",
    ),
    ([("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("from", "")], "badArgument"),
    (
        [
            ("verb", "ListRecords"),
            ("metadataPrefix", "oai_dc"),
            ("from", "2024-01-01"),
            ("until", "2024-01-02T00:00:00Z"),
        ],
        "badArgument",
    ),
    (
        [
            ("verb", "ListRecords"),
            ("metadataPrefix", "oai_dc"),
            ("from", "2024-02-01"),
            ("until", "2024-01-01"),
        ],
        "badArgument",
    ),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("resumptionToken", "abc")],
        "badArgument",
    ),
    (
        [("verb", "ListIdentifiers"), ("resumptionToken", "abc"), ("until", "2024-01-01")],
        "badArgument",
    ),
    ([("verb", "ListRecords"), ("resumptionToken", "a"), ("resumptionToken", "a")], "badArgument"),
    ([("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("set", "bad set")], "badArgument"),
    ([("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("set", "sach:")], "badArgument"),
    ([("verb", "ListRecords"), ("metadataPrefix", "oai dc")], "badArgument"),
    ([("verb", "ListRecords"), ("metadataPrefix", LONG)], "badArgument"),
    ([("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("set", LONG)], "badArgument"),
    ([("verb", "ListRecords"), ("resumptionToken", LONG)], "badArgument"),
    ([("verb", "GetRecord"), ("metadataPrefix", "oai_dc")], "badArgument"),
    ([("verb", "GetRecord"), ("identifier", oai_id("x"))], "badArgument"),
    (
        [("verb", "GetRecord"), ("identifier", "not a uri"), ("metadataPrefix", "oai_dc")],
        "badArgument",
    ),
    (
        [("verb", "GetRecord"), ("identifier", "oai:x\x00y"), ("metadataPrefix", "oai_dc")],
        "badArgument",
    ),
    (
        [("verb", "GetRecord"), ("identifier", f"oai:{LONG}"), ("metadataPrefix", "oai_dc")],
        "badArgument",
    ),
    ([("verb", "ListRecords"), ("metadataPrefix", "mods")], "cannotDisseminateFormat"),
    ([("verb", "ListIdentifiers"), ("metadataPrefix", "oai_DC")], "cannotDisseminateFormat"),
    (
        [("verb", "GetRecord"), ("identifier", oai_id("x")), ("metadataPrefix", "marc21")],
        "cannotDisseminateFormat",
    ),
    (
        [("verb", "GetRecord"), ("identifier", oai_id("khong-co")), ("metadataPrefix", "oai_dc")],
        "idDoesNotExist",
    ),
    (
        [
            ("verb", "GetRecord"),
            ("identifier", "oai:example.org:abc"),
            ("metadataPrefix", "oai_dc"),
        ],
        "idDoesNotExist",
    ),
    (
        [("verb", "GetRecord"), ("identifier", f"oai:{HOST}:"), ("metadataPrefix", "oai_dc")],
        "idDoesNotExist",
    ),
    (
        [("verb", "GetRecord"), ("identifier", "urn:x-y:Đ"), ("metadataPrefix", "oai_dc")],
        "idDoesNotExist",
    ),
    (
        [("verb", "GetRecord"), ("identifier", "oai:a#b#c"), ("metadataPrefix", "oai_dc")],
        "badArgument",
    ),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("set", "khong-co")],
        "noRecordsMatch",
    ),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("from", "2099-01-01")],
        "noRecordsMatch",
    ),
    ([("verb", "ListRecords"), ("resumptionToken", "abc.def")], "badResumptionToken"),
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("pairs", "code"), BAD_REQUESTS, ids=lambda v: str(v)[:60])
def test_refusals(
    oai: Harvester, catalogue: Catalogue, pairs: Pairs, code: str, method: str
) -> None:
    root = oai(pairs, method=method)
    assert error_code(root) == code
    request = root.find("o:request", NS)
    assert request.text == f"{BASE}/oai"
    if code in ("badVerb", "badArgument"):
        assert request.attrib == {}  # not understood: not echoed
    else:
        assert request.attrib == dict(pairs)


def test_post_needs_no_csrf_token_and_get_and_post_agree(
    app: Flask, client: FlaskClient, oai_schema: etree.XMLSchema, catalogue: Catalogue
) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True)
    args = {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "sach"}
    posted = client.post(
        "/oai", data=args, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    got = client.get("/oai", query_string=args)
    assert posted.status_code == got.status_code == 200
    trees = [check(oai_schema, r.data, r.content_type) for r in (posted, got)]
    assert identifiers(trees[0]) == identifiers(trees[1]) != []


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "verb",
                    "metadataPrefix",
                    "identifier",
                    "set",
                    "from",
                    "until",
                    "resumptionToken",
                    "x",
                ]
            ),
            st.one_of(
                st.sampled_from(
                    [
                        "Identify",
                        "ListRecords",
                        "ListIdentifiers",
                        "GetRecord",
                        "ListSets",
                        "ListMetadataFormats",
                        "oai_dc",
                        "marcxml",
                        "sach",
                        "2024-01-07",
                        "2024-01-07T08:00:00Z",
                        oai_id("x"),
                    ]
                ),
                st.text(max_size=40),
            ),
        ),
        max_size=5,
    ),
    method=st.sampled_from(["GET", "POST"]),
)
def test_any_arguments_get_a_valid_answer(
    oai: Harvester, catalogue: Catalogue, pairs: Pairs, method: str
) -> None:
    root = oai(pairs, method=method)  # 200, text/xml and schema-valid, whatever came in
    assert root.find("o:error", NS) is not None or len(root) == 3


# -- real harvesters over HTTP -------------------------------------------------------


def validating_hook(schema: etree.XMLSchema) -> dict[str, Any]:
    """A requests hook: every answer Sickle receives is checked against the schema."""

    def hook(response: requests.Response, *args: object, **kwargs: object) -> None:
        assert response.status_code == 200
        check(schema, response.content, response.headers["Content-Type"])

    return {"response": hook}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_sickle_harvests_the_demo_site(
    site: dict[str, str], oai_schema: etree.XMLSchema, method: str
) -> None:
    sickle = Sickle(
        f"{site['web']}/oai", http_method=method, hooks=validating_hook(oai_schema), timeout=30
    )
    host = site["web"].split("//")[1].split(":")[0]
    identify = sickle.Identify()
    assert identify.baseURL == f"{site['web']}/oai"
    assert identify.deletedRecord == "persistent"
    # Other tests may add collections and items to the shared demo site: the sample's are
    # what must be there.
    assert "mau" in [s.setSpec for s in sickle.ListSets()]
    formats = [f.metadataPrefix for f in sickle.ListMetadataFormats()]
    assert formats == ["oai_dc", "marcxml"]
    headers = list(sickle.ListIdentifiers(metadataPrefix="oai_dc"))
    ids = [h.identifier for h in headers]
    assert len(ids) == len(set(ids)) >= 4  # the four sample books, the restricted one too
    sample = {site["rtl_item"], site["restricted_item"], site["text_item"]}
    assert sample <= {i.rsplit(":", 1)[1] for i in ids}
    assert all(i.startswith(f"oai:{host}:") for i in ids)
    assert site["restricted_item"] in {i.rsplit(":", 1)[1] for i in ids}
    records = list(sickle.ListRecords(metadataPrefix="oai_dc"))
    titles = {t for r in records for t in r.metadata["title"]}
    assert "Đoạn trường tân thanh (bản mẫu)" in titles
    assert {r.header.identifier for r in records} == set(ids)
    marc = list(sickle.ListRecords(metadataPrefix="marcxml"))
    assert len(marc) == len(ids) and all(
        r.xml.find(f".//{{{NS['marc']}}}record") is not None for r in marc
    )
    one = sickle.GetRecord(identifier=f"oai:{host}:{site['rtl_item']}", metadataPrefix="oai_dc")
    assert "Đoạn trường tân thanh (bản mẫu)" in one.metadata["title"]
    manifest = f"{site['web']}/iiif/{site['rtl_item']}/manifest"
    assert manifest in one.metadata["identifier"]
    assert requests.get(manifest, timeout=10).status_code == 200


@pytest.fixture(scope="module")
def paged_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The repository under gunicorn with 7 published items in pages of 2 (by the env)."""
    instance = tmp_path_factory.mktemp("oai") / "instance"
    port = free_port()
    secret = secrets.token_urlsafe(48)  # served under gunicorn, where weak ones are refused
    env = {
        "TANGTHU_INSTANCE_PATH": str(instance),
        "TANGTHU_SECRET_KEY": secret,
        "TANGTHU_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TANGTHU_SESSION_COOKIE_SECURE": "false",
        "TANGTHU_OAI_PAGE_SIZE": "2",
    }
    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": secret})
    with app.app_context():
        db.create_all()
        collection = Collection(slug="sach", title={"vi": "Sách"})
        now = datetime.now(UTC).replace(tzinfo=None)
        items = [
            Item(
                collection=collection,
                title={"vi": f"Quyển {n}"},
                status="published",
                published_at=now,
                updated_at=now,  # all at once: only the ids order them
            )
            for n in range(7)
        ]
        db.session.add_all(items)
        db.session.commit()
        ids = [item.id for item in items]
    with Server("repository_app", env, port=port) as server:
        yield {"url": server.url, "ids": ids}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_sickle_follows_resumption_tokens(
    paged_site: dict[str, Any], oai_schema: etree.XMLSchema, method: str
) -> None:
    pages: list[etree._Element] = []
    hooks = validating_hook(oai_schema)
    keep = hooks["response"]

    def remember(response: requests.Response, *args: object, **kwargs: object) -> None:
        keep(response)
        pages.append(etree.fromstring(response.content))

    sickle = Sickle(
        f"{paged_site['url']}/oai", http_method=method, hooks={"response": remember}, timeout=30
    )
    records = list(sickle.ListRecords(metadataPrefix="oai_dc"))
    found = [r.header.identifier.rsplit(":", 1)[1] for r in records]
    assert found == sorted(paged_site["ids"])
    assert len(pages) == 4
    tokens = [page.find(".//o:resumptionToken", NS) for page in pages]
    assert [t.get("cursor") for t in tokens] == ["0", "2", "4", "6"]
    assert {t.get("completeListSize") for t in tokens} == {"7"}
    assert tokens[-1].text is None
    headers = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", set="sach"))
    assert len(headers) == 7
