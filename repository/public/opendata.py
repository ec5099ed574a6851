"""For search engines and the national open-data system: robots.txt, sitemaps, and the
full open-data export of published metadata (JSON-LD and CSV) at stable URLs."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from flask import Response, abort, stream_with_context
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Collection, Item
from ..services.access import ANONYMOUS, visible_items
from ..services.collections import kept
from ..services.linked_data import CSV_COLUMNS, csv_row, schema_org
from ..settings import current_settings
from ..web import public_urls
from .blueprint import bp

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
# URLs per sitemap file (the protocol allows 50,000): small enough that a file is built in
# tens of milliseconds, for the 100 files of a catalogue of 200,000 items.
SITEMAP_PAGE = 2_000
BATCH = 500


def public_items() -> Iterator[Item]:
    """Every item that exists for everyone, in a stable order, a batch at a time."""
    last = ""
    while True:
        batch = (
            db.session.execute(
                db.select(Item)
                .where(visible_items(ANONYMOUS), Item.id > last)
                .options(selectinload(Item.images), selectinload(Item.collection))
                .order_by(Item.id)
                .limit(BATCH)
            )
            .scalars()
            .all()
        )
        if not batch:
            return
        yield from batch
        last = batch[-1].id
        db.session.expunge_all()


@bp.get("/robots.txt")
def robots() -> Response:
    base = public_urls().base
    lines = [
        "User-agent: *",
        "Disallow: /admin/",
        "Disallow: /auth/",
        "Disallow: /search",  # endless facet combinations; the sitemap lists every item
        "Allow: /",
        f"Sitemap: {base}/sitemap.xml",
    ]
    return Response("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


def _starts() -> list[str]:
    """The id each sitemap file of items starts at: every SITEMAP_PAGE-th public id, found
    by the database along ix_item_public_ids once per state of the catalogue, so a file
    is read from its first id on, never by an offset into every public item."""
    numbered = (
        db.select(Item.id.label("id"), db.func.row_number().over(order_by=Item.id).label("number"))
        .where(visible_items(ANONYMOUS))
        .subquery()
    )
    statement = (
        db.select(numbered.c.id)
        .where((numbered.c.number - 1) % SITEMAP_PAGE == 0)
        .order_by(numbered.c.id)
    )
    return kept(("sitemap-starts",), lambda: list(db.session.execute(statement).scalars()))


def _item_pages() -> int:
    """How many sitemap files of items there are: at least one, even when it is empty."""
    return max(1, len(_starts()))


def _xml(root: ET.Element) -> Response:
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    response = Response(body, content_type="application/xml; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _stamp(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC).replace(tzinfo=None)).strftime("%Y-%m-%dT%H:%M:%SZ")


@bp.get("/sitemap.xml")
def sitemap_index() -> Response:
    """A sitemap index: one file of site pages and collections, then items in pages."""
    ET.register_namespace("", SITEMAP_NS)
    root = ET.Element(f"{{{SITEMAP_NS}}}sitemapindex")
    base = public_urls().base
    pages = _item_pages()
    for name in ["pages", *(f"items-{n}" for n in range(1, pages + 1))]:
        entry = ET.SubElement(root, f"{{{SITEMAP_NS}}}sitemap")
        ET.SubElement(entry, f"{{{SITEMAP_NS}}}loc").text = f"{base}/sitemaps/{name}.xml"
    return _xml(root)


def _url(root: ET.Element, loc: str, lastmod: datetime | None = None) -> None:
    entry = ET.SubElement(root, f"{{{SITEMAP_NS}}}url")
    ET.SubElement(entry, f"{{{SITEMAP_NS}}}loc").text = loc
    if lastmod is not None:
        ET.SubElement(entry, f"{{{SITEMAP_NS}}}lastmod").text = _stamp(lastmod)


@bp.get("/sitemaps/pages.xml")
def sitemap_pages() -> Response:
    ET.register_namespace("", SITEMAP_NS)
    root = ET.Element(f"{{{SITEMAP_NS}}}urlset")
    base = public_urls().base
    _url(root, f"{base}/")
    for slug, created in db.session.execute(
        db.select(Collection.slug, Collection.created_at).order_by(Collection.slug)
    ):
        _url(root, f"{base}/collections/{slug}", created)
    return _xml(root)


@bp.get("/sitemaps/items-<int:number>.xml")
def sitemap_items(number: int) -> Response:
    if not 1 <= number <= _item_pages():  # and never an offset past what the database holds
        abort(404)
    urls = public_urls()
    starts = _starts()
    query = db.select(Item.id, Item.updated_at).where(visible_items(ANONYMOUS))
    if starts:
        query = query.where(Item.id >= starts[number - 1])
    rows = db.session.execute(query.order_by(Item.id).limit(SITEMAP_PAGE)).all()
    if not rows and number > 1:
        abort(404)
    # Thousands of entries of two fields each, written as text: an element tree of them
    # took most of the request.
    lines = [f'<?xml version="1.0" encoding="utf-8"?>\n<urlset xmlns="{SITEMAP_NS}">']
    lines += [
        f"<url><loc>{escape(urls.item_page(item_id))}</loc>"
        f"<lastmod>{updated.isoformat(timespec='seconds')}Z</lastmod></url>"
        for item_id, updated in rows
    ]
    lines.append("</urlset>\n")
    response = Response("".join(lines), content_type="application/xml; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def dataset_header() -> dict[str, object]:
    """What the export is: a schema.org Dataset, with the licence of the metadata."""
    settings = current_settings()
    base = public_urls().base
    return {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "@id": f"{base}/opendata/items.jsonld",
        "name": [{"@value": t, "@language": lang} for lang, t in settings.library_name.items()],
        "license": settings.open_data_license,
        "dateModified": _stamp(None),
        "distribution": [
            {
                "@type": "DataDownload",
                "encodingFormat": "application/ld+json",
                "contentUrl": f"{base}/opendata/items.jsonld",
            },
            {
                "@type": "DataDownload",
                "encodingFormat": "text/csv",
                "contentUrl": f"{base}/opendata/items.csv",
            },
        ],
    }


def jsonld_chunks() -> Iterator[str]:
    """The whole export as JSON, streamed: the dataset, then its items in hasPart."""
    header = json.dumps(dataset_header(), ensure_ascii=False)
    yield header[:-1] + ', "hasPart": ['
    urls, settings = public_urls(), current_settings()
    for number, item in enumerate(public_items()):
        document = schema_org(item, urls, settings.library_name, settings.default_rights)
        document.pop("@context")
        yield ("," if number else "") + "\n" + json.dumps(document, ensure_ascii=False)
    yield "\n]}\n"


def csv_chunks() -> Iterator[str]:
    """The whole export as CSV (UTF-8 with a byte-order mark, for spreadsheets)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    buffer.write("\ufeff")
    writer.writeheader()
    urls, rights = public_urls(), current_settings().default_rights
    for number, item in enumerate(public_items(), start=1):
        writer.writerow(csv_row(item, urls, rights))
        if number % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _licence_link() -> str:
    return f'<{current_settings().open_data_license}>; rel="license"'


@bp.get("/opendata/items.jsonld")
def opendata_jsonld() -> Response:
    response = Response(stream_with_context(jsonld_chunks()), content_type="application/ld+json")
    response.headers["Link"] = _licence_link()
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/opendata/items.csv")
def opendata_csv() -> Response:
    response = Response(stream_with_context(csv_chunks()), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="tangthu-items.csv"'
    response.headers["Link"] = _licence_link()
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/opendata/")
def opendata_index() -> Response:
    """Where the export lives, as JSON-LD (the Dataset without its items)."""
    response = Response(
        json.dumps(dataset_header(), ensure_ascii=False), content_type="application/ld+json"
    )
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
