"""Citations a reference manager imports: RIS, BibTeX, CSL-JSON and Highwire tags."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient

from repository.extensions import db
from repository.models import Collection, Item
from repository.services.citation import bibtex, citation_of, csl_json, highwire, ris

HOSTILE = "Sách {x} \\end 100% $5 & #1_^~\nER  - \r\nTY  - JOUR"


def book(**changes: object) -> Item:
    values: dict[str, object] = {
        "id": "abc123",
        "title": {"vi": "Đại Việt sử ký toàn thư", "lzh": "大越史記全書", "vi-Hani": "𡨸喃"},
        "dc": {
            "creator": [{"value": "Ngô Sĩ Liên", "lang": "vi"}],
            "date": [{"value": "1697", "lang": "none"}],
            "identifier": [{"value": "R.1234"}],
            "language": [{"value": "lzh"}],
            "subject": [{"value": "Lịch sử"}],
            "type": [{"value": "Manuscript"}],
        },
    }
    values.update(changes)
    return Item(**values)


def test_every_format_keeps_the_titles_in_their_scripts() -> None:
    citation = citation_of(book(), "https://tv.example/items/abc123", "Thư viện", "vi")
    text = ris(citation)
    assert text.startswith("TY  - MANSCPT\r\n") and text.endswith("ER  - \r\n")
    assert "TI  - Đại Việt sử ký toàn thư\r\n" in text and "TT  - 大越史記全書\r\n" in text
    assert "TT  - 𡨸喃\r\n" in text and "AU  - Ngô Sĩ Liên\r\n" in text and "PY  - 1697" in text
    entry = bibtex(citation)
    assert entry.startswith("@unpublished{lien1697abc123,\n")
    assert "author = {{Ngô Sĩ Liên}}" in entry and "大越史記全書" in entry
    csl = csl_json(citation)[0]
    assert csl["type"] == "manuscript" and csl["author"] == [{"literal": "Ngô Sĩ Liên"}]
    assert csl["issued"]["date-parts"] == [[1697]] and csl["original-title"] == "大越史記全書"
    tags = dict(highwire(citation))
    assert tags["citation_title"] == "Đại Việt sử ký toàn thư"
    assert tags["citation_publication_date"] == "1697"
    # In English the Vietnamese title still leads: it is the one there is.
    english = citation_of(book(), "u", "Library", "en")
    assert english.title == "Đại Việt sử ký toàn thư"


def test_nothing_typed_can_break_out_of_its_field() -> None:
    citation = citation_of(
        book(title={"vi": HOSTILE}, dc={"creator": [{"value": "A}\\B"}]}), "u", "L", "vi"
    )
    text = ris(citation)
    records = [line for line in text.split("\r\n") if line.startswith(("TY  -", "ER  -"))]
    assert records == ["TY  - BOOK", "ER  - "]  # one record, whatever the title says
    entry = bibtex(citation)
    depth = 0
    for char in re.sub(r"\\[{}]", "", entry):  # escaped braces do not count
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    assert (
        r"\{x\}" in entry
        and r"100\%" in entry
        and r"\$5" in entry
        and "\n" not in (entry.split("title = ")[1].split("},")[0])
    )
    assert r"A\}\textbackslash{}B" in entry


@pytest.fixture
def items(app: Flask) -> dict[str, str]:
    with app.app_context():
        collection = Collection(slug="sach", title={"vi": "Sách"})
        db.session.add_all(
            [
                book(id="open1", collection=collection, status="published", access="open"),
                book(id="staff1", collection=collection, status="published", access="staff"),
                book(id="draft1", collection=collection, status="draft", access="open"),
                book(
                    id="later1",
                    collection=collection,
                    status="published",
                    access="open",
                    embargo_until=date(2999, 1, 1),
                ),
            ]
        )
        db.session.commit()
    return {"open": "open1"}


@pytest.mark.parametrize(
    ("kind", "mimetype"),
    [
        ("ris", "application/x-research-info-systems"),
        ("bib", "application/x-bibtex"),
        ("json", "application/vnd.citationstyles.csl+json"),
    ],
)
def test_citation_files_download_for_items_the_reader_may_see(
    client: FlaskClient, items: dict[str, str], kind: str, mimetype: str
) -> None:
    response = client.get(f"/items/open1/cite.{kind}")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert response.headers["Content-Disposition"] == f'attachment; filename="open1.{kind}"'
    body = response.get_data(as_text=True)
    assert "大越史記全書" in body and "/items/open1" in body
    if kind == "json":
        assert json.loads(body)[0]["id"] == "open1"
    for hidden in ("staff1", "draft1", "later1", "nope", "x" * 40):
        assert client.get(f"/items/{hidden}/cite.{kind}").status_code == 404, hidden
    assert client.get("/items/open1/cite.exe").status_code == 404


def test_the_item_page_offers_the_citation_files_and_the_tags_zotero_reads(
    client: FlaskClient, items: dict[str, str]
) -> None:
    page = client.get("/items/open1").get_data(as_text=True)
    assert '<meta name="citation_title" content="Đại Việt sử ký toàn thư">' in page
    assert '<meta name="citation_author" content="Ngô Sĩ Liên">' in page
    for kind in ("ris", "bib", "json"):
        assert f'href="/items/open1/cite.{kind}"' in page
