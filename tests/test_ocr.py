"""OCR: Tesseract reads printed pages; the words are searchable, in the catalogue and
inside the item (IIIF Content Search 2.0 and 1.0), and the manifests point at them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jsonschema import Draft7Validator

from repository.sample import draw_printed_page
from repository.services.content_search import Page, complete, find
from repository.services.ocr import ALTO_NS, installed_languages

pytestmark = pytest.mark.skipif(
    "vie" not in installed_languages(),
    reason="needs Tesseract with Vietnamese (make test installs tesseract-ocr-vie)",
)


def get(site: dict[str, str], path: str, **params: str) -> requests.Response:
    return requests.get(site["web"] + path, params=params, timeout=30)


def test_the_sample_book_is_read_and_its_words_have_boxes(site: dict[str, str]) -> None:
    item = site["text_item"]
    manifest = get(site, f"/iiif/{item}/manifest").json()
    canvas = manifest["items"][0]
    alto_url = canvas["seeAlso"][0]["id"]
    assert canvas["seeAlso"][0]["format"] == "application/xml"
    alto = requests.get(alto_url, timeout=30)
    assert alto.status_code == 200
    root = ET.fromstring(alto.content)
    page = root.find(f".//{{{ALTO_NS}}}Page")
    assert page is not None and int(page.get("WIDTH", 0)) == canvas["width"]
    words = [s.get("CONTENT") for s in root.iter(f"{{{ALTO_NS}}}String")]
    assert "Tây" in words and "Minh" in words
    annotations = requests.get(canvas["annotations"][0]["id"], timeout=30).json()
    lines = [a["body"]["value"] for a in annotations["items"]]
    assert any("Trước đèn xem truyện Tây Minh" in line for line in lines)
    assert {a["motivation"] for a in annotations["items"]} == {"supplementing"}
    assert annotations["items"][0]["body"]["language"] == "vi"
    types = {s.get("type") or s.get("@type") for s in manifest["service"]}
    assert {"SearchService2", "SearchService1"} <= types
    v2 = get(site, f"/iiif/2/{item}/manifest").json()
    assert v2["service"][0]["profile"] == "http://iiif.io/api/search/1/search"
    assert v2["sequences"][0]["canvases"][0]["otherContent"][0]["@type"] == "sc:AnnotationList"


def test_the_manifest_with_text_is_valid_presentation_3(
    site: dict[str, str], presentation_schema: dict[str, Any]
) -> None:
    manifest = get(site, f"/iiif/{site['text_item']}/manifest").json()
    errors = [e.message[:200] for e in Draft7Validator(presentation_schema).iter_errors(manifest)]
    assert errors == []


def test_content_search_2_finds_words_without_diacritics(site: dict[str, str]) -> None:
    item = site["text_item"]
    manifest = get(site, f"/iiif/{item}/manifest").json()
    service = next(s for s in manifest["service"] if s.get("type") == "SearchService2")
    found = requests.get(service["id"], params={"q": "nguyen dinh chieu"}, timeout=30).json()
    assert found["@context"] == "http://iiif.io/api/search/2/context.json"
    assert found["type"] == "AnnotationPage" and found["partOf"]["total"] == 1
    hit = found["items"][0]
    assert hit["body"]["value"] == "Nguyễn Đình Chiểu"
    canvas, box = hit["target"].split("#xywh=")
    assert canvas == manifest["items"][1]["id"]
    x, y, w, h = map(int, box.split(","))
    # The third line of the second page, drawn from x=200, y=300 (about 95 px a line).
    assert 150 <= x <= 260 and 420 <= y <= 620 and 250 <= w <= 900 and 20 <= h <= 120
    quote = found["annotations"][0]["items"][0]["target"]["selector"][0]
    assert quote["exact"] == "Nguyễn Đình Chiểu" and quote["suffix"].strip().startswith("soạn")
    assert get(site, f"/iiif/{item}/search", q="tay minh", motivation="painting").json()[
        "ignored"
    ] == ["motivation"]


def test_content_search_1_for_mirador(site: dict[str, str]) -> None:
    item = site["text_item"]
    found = get(site, f"/iiif/{item}/search/1", q="Tây Minh").json()
    assert found["@type"] == "sc:AnnotationList" and found["within"]["total"] == 1
    assert found["hits"][0]["match"] == "Tây Minh"
    assert found["hits"][0]["before"].strip().endswith("truyện")
    assert found["resources"][0]["on"].startswith(f"{site['web']}/iiif/{item}/canvas/")
    terms = get(site, f"/iiif/{item}/autocomplete/1", q="ngh").json()["terms"]
    assert any(t["match"] == "nghe" for t in terms)
    assert get(site, f"/iiif/{item}/autocomplete", q="tr").json()["type"] == "TermPage"


@pytest.mark.parametrize(
    "query", ["", "x" * 3000, '"', "NEAR(a b)", "'; DROP TABLE page_text; --", "\x00", "*"]
)
def test_content_search_survives_hostile_queries(site: dict[str, str], query: str) -> None:
    response = get(site, f"/iiif/{site['text_item']}/search/1", q=query)
    assert response.status_code == 200 and response.json()["resources"] == []


def test_text_of_restricted_or_unknown_items_is_refused(site: dict[str, str]) -> None:
    assert get(site, f"/iiif/{site['restricted_item']}/search", q="x").status_code == 401
    assert get(site, "/iiif/nosuchitem/search/1", q="x").status_code == 404
    canvas = f"/iiif/{site['text_item']}/canvas/nosuchpage/text/alto.xml"
    assert get(site, canvas).status_code == 404


def test_the_catalogue_finds_an_item_by_its_page_text(site: dict[str, str]) -> None:
    page = get(site, "/search", q="tiet hanh trau minh").text
    assert site["text_item"] in page
    assert "<mark>tiết</mark>" in page or "<mark>Tiết</mark>" in page


def test_finding_runs_and_single_words() -> None:
    words = [["Nguyễn", 0, 0, 10, 10, 0], ["Đình", 12, 0, 10, 10, 0], ["Chiểu,", 0, 20, 10, 10, 1]]
    pages = [Page("p1", words)]
    (hit,) = find(pages, "nguyen dinh chieu")
    assert hit.boxes() == [(0, 0, 22, 10), (0, 20, 10, 10)]  # one box per line
    assert [h.match for h in find(pages, "chieu nguyen")] == ["Nguyễn", "Chiểu,"]
    assert find(pages, "") == [] and find(pages, '"') == []
    assert complete(pages, "ng") == [("nguyễn", 1)] and complete(pages, "n") == []


def ingest_printed(runner: FlaskCliRunner, folder: Path, text: str, *options: str) -> Any:
    """Ingest one printed page bearing the text into collection 'c'."""
    folder.mkdir()
    draw_printed_page(text).jpegsave(str(folder / "1.jpg"))
    result = runner.invoke(args=["ingest", str(folder), "--collection", "c", *options])
    assert result.exit_code == 0, result.output
    return result


def test_ocr_command_reads_an_item_in_the_background_queue(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    from repository.extensions import db
    from repository.models import Item, PageText

    ingest_printed(runner, tmp_path / "in", "Đại Việt sử ký toàn thư\nNgô Sĩ Liên", "--publish")
    with app.app_context():
        item_id = db.session.execute(db.select(Item.id)).scalar_one()
    refused = runner.invoke(args=["ocr", "--item", item_id, "--languages", "xyz;rm"])
    assert refused.exit_code != 0 and "not a Tesseract language list" in refused.output
    missing = runner.invoke(args=["ocr", "--item", item_id, "--languages", "klingon"])
    assert missing.exit_code != 0 and "no klingon" in missing.output
    result = runner.invoke(args=["ocr", "--item", item_id, "--languages", "vie"])
    assert result.exit_code == 0, result.output
    assert "read 1 pages; 0 failed" in result.output
    with app.app_context():
        text = db.session.execute(db.select(PageText)).scalar_one()
        assert "Ngô Sĩ Liên" in text.text and text.status == "done"
    # Publishing again happened by itself: the catalogue and the manifest know the text.
    assert item_id in client.get("/search?q=ngo si lien").get_data(as_text=True)
    manifest = client.get(f"/iiif/{item_id}/manifest").get_json()
    assert manifest["items"][0]["seeAlso"][0]["profile"].startswith("http://www.loc.gov/")
    again = runner.invoke(args=["ocr", "--item", item_id])
    assert "read 0 pages" in again.output  # already read in these languages


def test_a_curator_turns_on_text_recognition_for_an_item(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    import time

    from repository.extensions import db
    from repository.models import Collection, Item, PageText
    from tests.helpers import csrf_token, sign_in

    ingest_printed(runner, tmp_path / "in", "Hương ước xã Phú Xuân", "--publish")
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    sign_in(client, "thuthu", "mat-khau-thu-thu")
    with app.app_context():
        item_id = db.session.execute(db.select(Item.id)).scalar_one()
    url = f"/admin/items/{item_id}"
    form = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'value="vie"' in form and "As the collection says" in form
    fields = {
        "csrf_token": csrf_token(form),
        "title_vi": "Hương ước",
        "viewing_direction": "left-to-right",
        "behavior": "paged",
        "access": "open",
    }
    bad = client.post(url, data={**fields, "ocr_languages": "vie;rm -rf"})
    assert bad.status_code == 200 and "Not a valid choice" in bad.get_data(as_text=True)
    saved = client.post(url, data={**fields, "ocr_languages": "vie"}, follow_redirects=True)
    assert "1 pages wait for text recognition" in saved.get_data(as_text=True) or (
        "1 trang đang chờ" in saved.get_data(as_text=True)
    )
    for _ in range(120):  # the web app's OCR thread reads it, then republishes the item
        with app.app_context():
            status = db.session.execute(db.select(PageText.status)).scalar_one()
        if status == "done" and item_id in client.get("/search?q=huong uoc phu xuan").get_data(
            as_text=True
        ):
            break
        time.sleep(0.5)
    assert status == "done"
    assert client.get(f"/iiif/{item_id}/search/1?q=phu+xuan").get_json()["within"]["total"] == 1
    # A collection's choice applies to the pages ingested into it from then on.
    with app.app_context():
        db.session.execute(db.select(Collection)).scalar_one().ocr_languages = "vie"
        db.session.commit()
    result = ingest_printed(runner, tmp_path / "more", "Địa bạ")
    assert "1 pages wait for text recognition" in result.output
