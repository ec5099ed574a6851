"""Language tags with scripts: vi (Quốc ngữ), vi-Hani (chữ Nôm) and lzh (Hán) on one item.

A curator gives the titles through the cataloguing service; every export keeps every tag:
IIIF 3.0 language maps and 2.1 @language (the 3.0 one validated against the shared
schema), OAI-PMH Dublin Core with xml:lang and MARCXML with 880 linkage (each answer
validated against the OAI-PMH schema), and the open data's JSON-LD and CSV.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jsonschema import Draft7Validator
from lxml import etree

from repository import get_storage
from repository.extensions import db
from repository.models import Item
from repository.services.cataloguing import (
    Actor,
    ItemDescription,
    describe_item,
    format_titles,
    is_language_tag,
    language_name,
    parse_titles,
    parse_values,
)
from repository.services.errors import Refused
from repository.services.marc import is_cjk
from repository.web import publish_settings
from tests.helpers import csrf_token, sign_in

TITLES = {"vi": "Đại Việt sử ký toàn thư", "vi-Hani": "大越史記全書", "lzh": "大越史記全書 外紀"}
NS = {
    "o": "http://www.openarchives.org/OAI/2.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "marc": "http://www.loc.gov/MARC21/slim",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def description(**changes: Any) -> ItemDescription:
    fields: dict[str, Any] = {
        "title": {"vi": TITLES["vi"], "en": ""},
        "summary": {"vi": "Bộ quốc sử.", "en": ""},
        "dc": {"language": "vi\nvi-Hani\nlzh", "subject": "[vi] Lịch sử\n[lzh] 史"},
        "year_start": 1697,
        "year_end": None,
        "viewing_direction": "right-to-left",
        "behavior": "paged",
        "rights": "",
        "access": "open",
        "embargo_until": None,
        "other_titles": "[vi-Hani] 大越史記全書\n[lzh] 大越史記全書 外紀",
    }
    fields.update(changes)
    return ItemDescription(**fields)


@pytest.fixture
def item_id(runner: FlaskCliRunner, make_pages, app: Flask) -> str:  # type: ignore[no-untyped-def]
    """A published item of one page, then described in three tagged titles."""
    result = runner.invoke(
        args=[
            "ingest",
            str(make_pages(count=1)),
            "--collection",
            "c",
            "--title",
            "Sách",
            "--publish",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.test_request_context():
        item = db.session.execute(db.select(Item)).scalar_one()
        describe_item(item, description(), Actor("thuthu"), get_storage(), publish_settings())
        return item.id


@pytest.fixture(scope="module")
def oai_schema(standards: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(standards / "OAI-PMH.xsd")))


def oai_record(client: FlaskClient, schema: etree.XMLSchema, item_id: str, prefix: str) -> Any:
    answer = client.get(
        "/oai",
        query_string={
            "verb": "GetRecord",
            "identifier": f"oai:127.0.0.1:{item_id}",
            "metadataPrefix": prefix,
        },
    )
    root = etree.fromstring(answer.data)
    assert schema.validate(root), schema.error_log
    assert root.find("o:error", NS) is None, answer.data[:500]
    return root


def test_the_service_keeps_every_tagged_title(app: Flask, item_id: str) -> None:
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert item.title == TITLES
        assert item.dc["subject"] == [
            {"value": "Lịch sử", "lang": "vi"},
            {"value": "史", "lang": "lzh"},
        ]
        assert parse_titles(format_titles(item.title)) == {
            k: v for k, v in TITLES.items() if k != "vi"
        }
        # Saved again without the other titles (a form that does not carry them): kept.
        describe_item(
            item,
            description(other_titles=None),
            Actor("thuthu"),
            get_storage(),
            publish_settings(),
        )
        assert db.session.get(Item, item_id).title == TITLES


def test_iiif_3_and_2_keep_the_tags(
    client: FlaskClient, item_id: str, presentation_schema: dict[str, Any]
) -> None:
    manifest = client.get(f"/iiif/{item_id}/manifest").get_json()
    errors = [e.message[:200] for e in Draft7Validator(presentation_schema).iter_errors(manifest)]
    assert errors == []
    assert manifest["label"] == {lang: [text] for lang, text in TITLES.items()}
    assert manifest["viewingDirection"] == "right-to-left"
    subjects = next(m["value"] for m in manifest["metadata"] if m["label"]["en"] == ["Subject"])
    assert subjects == {"vi": ["Lịch sử"], "lzh": ["史"]}
    old = client.get(f"/iiif/2/{item_id}/manifest").get_json()
    assert sorted(old["label"], key=lambda v: v["@language"]) == sorted(
        ({"@value": text, "@language": lang} for lang, text in TITLES.items()),
        key=lambda v: v["@language"],
    )


def test_oai_dublin_core_keeps_the_tags(
    client: FlaskClient, item_id: str, oai_schema: etree.XMLSchema
) -> None:
    root = oai_record(client, oai_schema, item_id, "oai_dc")
    titles = {node.get(XML_LANG): node.text for node in root.iterfind(".//dc:title", NS)}
    assert titles == TITLES
    subjects = {node.get(XML_LANG): node.text for node in root.iterfind(".//dc:subject", NS)}
    assert subjects == {"vi": "Lịch sử", "lzh": "史"}
    languages = [node.text for node in root.iterfind(".//dc:language", NS)]
    assert languages == ["vi", "vi-Hani", "lzh"]


def test_marcxml_links_the_han_titles_through_880(
    client: FlaskClient, item_id: str, oai_schema: etree.XMLSchema
) -> None:
    marc = oai_record(client, oai_schema, item_id, "marcxml").find(".//marc:record", NS)

    def fields(tag: str) -> list[list[tuple[str, str]]]:
        return [
            [(sub.get("code"), sub.text) for sub in node.iterfind("marc:subfield", NS)]
            for node in marc.iterfind(f"marc:datafield[@tag='{tag}']", NS)
        ]

    assert fields("245") == [[("6", "880-01"), ("a", TITLES["vi"])]]
    assert fields("880") == [
        [("6", "245-01/$1"), ("a", TITLES["vi-Hani"])],
        [("6", "246-00/$1"), ("a", TITLES["lzh"])],
    ]
    tags = [node.get("tag") for node in marc.iterfind("marc:datafield", NS)]
    assert tags[-2:] == ["880", "880"], "880s come last, in tag order"
    assert marc.findtext("marc:controlfield[@tag='008']", namespaces=NS)[35:38] == "vie"


def test_open_data_keeps_the_tags(client: FlaskClient, item_id: str) -> None:
    export = json.loads(client.get("/opendata/items.jsonld").get_data(as_text=True))
    (document,) = export["hasPart"]
    assert {v["@language"]: v["@value"] for v in document["name"]} == TITLES
    assert document["inLanguage"] == ["vi", "vi-Hani", "lzh"]
    assert {"@value": "史", "@language": "lzh"} in document["about"]
    text = client.get("/opendata/items.csv").get_data(as_text=True).lstrip("\ufeff")
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["title_vi"] == TITLES["vi"]
    assert row["title_other"] == f"[vi-Hani] {TITLES['vi-Hani']} | [lzh] {TITLES['lzh']}"


def test_a_tag_of_the_wrong_shape_is_refused_with_a_clear_message(app: Flask, item_id: str) -> None:
    with app.test_request_context():
        item = db.session.get(Item, item_id)
        for other, problem in (
            ("大越史記全書", "Start each title with its language tag"),
            ("[vi_Hani] 大越", "A language tag looks like"),
            (f"[{'x' * 40}] 大越", "A language tag looks like"),
            ("[lzh] 大\n[lzh] 越", "only one title"),
            ("[vi] 大越", "their own fields"),
        ):
            with pytest.raises(Refused) as refused:
                describe_item(
                    item,
                    description(other_titles=other),
                    Actor("thuthu"),
                    get_storage(),
                    publish_settings(),
                )
            assert problem in refused.value.fields["titles_other"]
        with pytest.raises(Refused) as refused:
            describe_item(
                item,
                description(dc={"subject": "[vi-Hani-x] 史"}),
                Actor("thuthu"),
                get_storage(),
                publish_settings(),
            )
        assert "dc_subject" in refused.value.fields
        assert db.session.get(Item, item_id).title == TITLES, "nothing changed"


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("vi", True),
        ("vi-Hani", True),
        ("lzh", True),
        ("zh-Hant-TW", True),
        ("vi-VN", True),
        ("x", False),
        ("vi_Hani", False),
        ("vi-Hani-", False),
        ("a" * 36, False),
        ("vi-Hani-abcdefghi", False),
        ("vi\n", False),
    ],
)
def test_language_tag_shape(tag: str, ok: bool) -> None:
    assert is_language_tag(tag) is ok


def test_values_keep_brackets_that_are_not_tags() -> None:
    assert parse_values("[s.n.]\n[1850?]\n[vi-hani] chữ") == [
        {"value": "[s.n.]", "lang": ""},
        {"value": "[1850?]", "lang": ""},
        {"value": "chữ", "lang": "vi-Hani"},
    ]


def test_language_names_for_readers() -> None:
    assert language_name("lzh", "vi") == "Hán văn (lzh)"
    assert language_name("lzh", "en") == "Classical Chinese (Hán) (lzh)"
    assert language_name("vi-hani", "vi") == "Chữ Nôm (vi-Hani)"
    assert language_name("vie", "en") == "Vietnamese (Quốc ngữ) (vie)"
    assert language_name("tiếng Việt", "vi") == "tiếng Việt"
    assert is_cjk("vi-Hani") and is_cjk("lzh") and not is_cjk("vi") and not is_cjk("zh-Latn")


def test_a_curator_gives_nom_and_han_titles_in_the_form(
    client: FlaskClient, runner: FlaskCliRunner, item_id: str, app: Flask
) -> None:
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    sign_in(client, "thuthu", "mat-khau-thu-thu")
    url = f"/admin/items/{item_id}"
    page = client.get(url).get_data(as_text=True)
    assert "大越史記全書 外紀" in page
    data = {
        "csrf_token": csrf_token(page),
        "title_vi": TITLES["vi"],
        "titles_other": "[vi-Hani] 大越\n[lzh] 史記",
        "viewing_direction": "right-to-left",
        "behavior": "paged",
        "access": "open",
        "ocr_languages": "collection",
    }
    assert client.post(url, data=data).status_code == 302
    with app.app_context():
        assert db.session.get(Item, item_id).title == {
            "vi": TITLES["vi"],
            "vi-Hani": "大越",
            "lzh": "史記",
        }
    refused = client.post(url, data={**data, "titles_other": "[vi_Hani] 大越"})
    assert refused.status_code == 200
    assert "Mã ngôn ngữ có dạng vi, vi-Hani" in refused.get_data(as_text=True)  # in Vietnamese


def test_every_refusal_is_offered_for_translation(app: Flask) -> None:
    from flask_babel import force_locale

    from repository.admin.forms import TAG_REFUSALS
    from repository.services import cataloguing

    with app.test_request_context(), force_locale("en"):
        offered = {str(message) for message in TAG_REFUSALS}
        assert offered == {
            cataloguing.BAD_TAG,
            cataloguing.UNTAGGED_TITLE,
            cataloguing.TWICE,
            cataloguing.OWN_FIELD,
            cataloguing.TITLE_TOO_LONG,
        }
