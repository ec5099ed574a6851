"""For search engines and open data: robots.txt, sitemaps, schema.org JSON-LD and Open
Graph on item pages, and the full export of published metadata as JSON-LD and CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


@pytest.fixture
def items(app: Flask, runner: FlaskCliRunner, make_pages) -> dict[str, str]:
    """An open item with a full record, a staff-only one and a draft."""
    from repository.extensions import db
    from repository.models import Item

    made = {}
    for number, (name, options) in enumerate(
        (("open", ["--publish"]), ("staff", ["--publish"]), ("draft", []))
    ):
        folder = make_pages(count=1, name=name, width=300 + number * 7)
        args = ["ingest", str(folder), "--collection", "c", "--title", f"Sách {name}", *options]
        assert runner.invoke(args=args).exit_code == 0
        with app.app_context():
            made[name] = db.session.execute(
                db.select(Item.id).order_by(Item.created_at.desc())
            ).scalar()
    with app.app_context():
        item = db.session.get(Item, made["open"])
        item.title = {"vi": "Đại Nam nhất thống chí", "en": "Gazetteer of Đại Nam"}
        item.summary = {"vi": "Sách địa chí </script><b>x</b>"}
        item.dc = {
            "creator": [{"value": "Quốc sử quán triều Nguyễn", "lang": "vi"}],
            "type": [{"value": "Text"}],
            "language": [{"value": "lzh"}],
            "identifier": [{"value": "R.595"}],
        }
        item.year_start, item.year_end = 1882, 1910
        db.session.commit()
    assert runner.invoke(args=["publish", made["open"]]).exit_code == 0
    assert runner.invoke(args=["access", made["staff"], "staff"]).exit_code == 0
    return made


def test_robots_and_sitemaps_list_only_public_items(
    client: FlaskClient, items: dict[str, str]
) -> None:
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert "Disallow: /admin/" in robots and "Sitemap: http://127.0.0.1:8000/sitemap.xml" in robots
    index = ET.fromstring(client.get("/sitemap.xml").data)
    locations = [e.text for e in index.findall("s:sitemap/s:loc", NS)]
    assert locations == [
        "http://127.0.0.1:8000/sitemaps/pages.xml",
        "http://127.0.0.1:8000/sitemaps/items-1.xml",
    ]
    pages = ET.fromstring(client.get("/sitemaps/pages.xml").data)
    assert "http://127.0.0.1:8000/collections/c" in [
        e.text for e in pages.iter(f"{{{NS['s']}}}loc")
    ]
    listed = client.get("/sitemaps/items-1.xml")
    urls = [e.text for e in ET.fromstring(listed.data).findall("s:url/s:loc", NS)]
    assert urls == [f"http://127.0.0.1:8000/items/{items['open']}"]
    lastmod = ET.fromstring(listed.data).find("s:url/s:lastmod", NS)
    assert lastmod is not None and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lastmod.text or ""
    )
    assert client.get("/sitemaps/items-2.xml").status_code == 404
    assert client.get("/sitemaps/items-0.xml").status_code == 404


def test_item_pages_carry_schema_org_and_open_graph(
    client: FlaskClient, items: dict[str, str]
) -> None:
    html = client.get(f"/items/{items['open']}").get_data(as_text=True)
    script = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert script is not None, "no JSON-LD"
    data = json.loads(script.group(1))  # the summary's </script> did not end it early
    assert data["@type"] == "Book" and data["@id"].endswith(f"/items/{items['open']}")
    assert {"@value": "Đại Nam nhất thống chí", "@language": "vi"} in data["name"]
    assert data["creator"] == [{"@type": "Person", "name": "Quốc sử quán triều Nguyễn"}]
    assert data["temporalCoverage"] == "1882/1910" and data["inLanguage"] == ["lzh"]
    assert data["subjectOf"]["url"].endswith(f"/iiif/{items['open']}/manifest")
    assert data["image"].startswith("http://127.0.0.1:8182/iiif/3/")
    assert '<meta property="og:title" content="Đại Nam nhất thống chí">' in html
    assert 'property="og:image"' in html and 'rel="canonical"' in html


def test_open_data_export_at_its_url_and_from_the_cli(
    client: FlaskClient, runner: FlaskCliRunner, items: dict[str, str], tmp_path: Path
) -> None:
    served = client.get("/opendata/items.jsonld")
    assert 'rel="license"' in served.headers["Link"]
    dataset = json.loads(served.get_data(as_text=True))
    assert dataset["@type"] == "Dataset"
    assert dataset["license"] == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert [part["@id"].rsplit("/", 1)[-1] for part in dataset["hasPart"]] == [items["open"]]
    table = client.get("/opendata/items.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(table.lstrip("\ufeff"))))
    assert [row["id"] for row in rows] == [items["open"]]
    assert rows[0]["title_vi"] == "Đại Nam nhất thống chí" and rows[0]["identifier"] == "R.595"
    result = runner.invoke(args=["export-opendata", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out" / "items.jsonld").read_text())
    assert written["hasPart"] == dataset["hasPart"]
    assert (tmp_path / "out" / "items.csv").read_bytes().decode("utf-8-sig") == table.lstrip(
        "\ufeff"
    )
    assert client.get("/opendata/").get_json()["distribution"][1]["encodingFormat"] == "text/csv"
