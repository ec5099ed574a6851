"""Vertical Hán: a page of classical text in columns read right to left, drawn with a
real CJK font, is read by the real Tesseract (chi_tra_vert) through our OCR service; its
ALTO, its text and Content Search follow the columns, in canvas pixels."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from benchmarks.ocr.pages import ANALECTS, draw_vertical_page, font
from benchmarks.ocr.run import aligned_right
from repository.services.content_search import Page, find, join_words, units
from repository.services.ocr import (
    ALTO_NS,
    OcrSettings,
    column_cuts,
    installed_languages,
    recognise,
    scale_alto,
    segmentation,
)

needs_tesseract = pytest.mark.skipif(
    "chi_tra_vert" not in installed_languages(),
    reason="needs Tesseract's chi_tra_vert (make test installs tesseract-ocr-chi-tra-vert)",
)
A = f"{{{ALTO_NS}}}"
CELL = 120  # a character's cell on the drawn page; OCR reads it at 2/3 of that (below)
OCR_MAX_EDGE = 1600


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Tesseract reads a reduced page (1920 × 2400 → 1280 × 1600), so every box must be
    scaled back to the canvas."""
    return {**app_config, "OCR_MAX_EDGE": OCR_MAX_EDGE}


def test_vertical_packs_read_the_page_as_one_block_of_columns() -> None:
    assert segmentation("chi_tra_vert") == ["--psm", "5"]
    assert segmentation("vie") == [] and segmentation("chi_tra") == []


def test_a_column_is_cut_where_its_ink_is_thinnest() -> None:
    # Three characters, 12, 6 and 12 rows tall, two empty rows between them.
    rows = [1.0] * 12 + [0.0] * 2 + [1.0] * 6 + [0.0] * 2 + [1.0] * 12
    assert column_cuts(rows, 3) == [0, 12, 21, 34]  # evenly it would be 0, 11, 23, 34
    assert column_cuts([0.0] * 30, 3) == [0, 10, 20, 30]
    assert column_cuts([], 2) == [0, 0, 0]


def alto_of_columns(columns: list[tuple[int, list[tuple[int, str]]]]) -> bytes:
    """ALTO as Tesseract writes it, columns in the order given: (x, [(y, content)])."""
    lines = []
    for number, (x, strings) in enumerate(columns):
        body = "".join(
            f'<String HPOS="{x}" VPOS="{y}" WIDTH="40" HEIGHT="{40 * len(c)}" CONTENT="{c}"/>'
            f'<SP WIDTH="-40" VPOS="{y}" HPOS="{x + 40}"/>'
            for y, c in strings
        )
        lines.append(
            f'<TextLine ID="line_{number}" HPOS="{x}" VPOS="0" WIDTH="40" HEIGHT="400">'
            f"{body}</TextLine>"
        )
    return (
        f'<alto xmlns="{ALTO_NS}"><Layout><Page WIDTH="300" HEIGHT="500"><PrintSpace>'
        f'<TextBlock HPOS="0" VPOS="0" WIDTH="300" HEIGHT="400">{"".join(lines)}</TextBlock>'
        "</PrintSpace></Page></Layout></alto>"
    ).encode()


def test_columns_are_put_right_to_left_and_characters_top_to_bottom() -> None:
    # Written left to right, with the strings of a column out of order.
    alto = alto_of_columns(
        [(10, [(0, "人不知")]), (110, [(200, "時習"), (0, "學而")]), (210, [(0, "子曰")])]
    )
    page = scale_alto(alto, 2.0, 2.0, 600, 1000, ink=lambda box: [0.0] * box[3])
    assert page.text.splitlines() == ["子曰", "學而時習", "人不知"]
    root = ET.fromstring(page.alto)
    lines = list(root.iter(f"{A}TextLine"))
    assert [int(line.get("HPOS", 0)) for line in lines] == [420, 220, 20]
    assert not list(root.iter(f"{A}SP"))  # Tesseract's negative spaces are gone
    # Each character has its share of its column, in canvas pixels: 學而時習 down 800 px.
    assert [w[0] for w in page.words[2:6]] == ["學", "而", "時", "習"]
    assert [(w[2], w[4]) for w in page.words[2:6]] == [(0, 200), (200, 200), (400, 200), (600, 200)]
    strings = lines[1].findall(f"{A}String")  # a String for each character
    assert [s.get("CONTENT") for s in strings] == ["學", "而", "時", "習"]
    assert [int(s.get("VPOS", 0)) for s in strings] == [0, 200, 400, 600]


def test_a_han_phrase_is_found_inside_a_column_with_its_own_box() -> None:
    column = ["子曰學而時習之", 100, 0, 50, 700, 0]
    pages = [Page("p1", [column, ["不亦說乎", 20, 0, 50, 400, 1]])]
    (hit,) = find(pages, "學而")
    assert hit.match == "學而" and hit.boxes() == [(100, 200, 50, 200)]
    assert hit.before == "子曰" and hit.after == "時習之不亦"
    (across,) = find(pages, "習之不亦")  # from the foot of one column to the next
    assert across.boxes() == [(100, 500, 50, 200), (20, 0, 50, 200)]
    assert find(pages, "學時") == []
    nom = Page("p2", [["𡨸才𡨸命", 0, 0, 40, 160, 0]])
    assert find([nom], "𡨸命")[0].boxes() == [(0, 80, 40, 80)]
    assert [u[0] for u in units(["子曰，", 0, 0, 30, 90, 0])] == ["子", "曰", "，"]
    assert len(find([Page("p3", [["子曰，學而", 0, 0, 30, 150, 0]])], "曰學")) == 1
    assert join_words(["Đại", "Việt", "大", "越", "史", "記"]) == "Đại Việt 大越史記"


def ingest_vertical(runner: FlaskCliRunner, folder: Path) -> Any:
    folder.mkdir()
    page = draw_vertical_page(ANALECTS, cell=CELL)
    page.image.jpegsave(str(folder / "1.jpg"), Q=92)
    result = runner.invoke(args=["ingest", str(folder), "--collection", "c", "--publish"])
    assert result.exit_code == 0, result.output
    return page


@needs_tesseract
def test_a_vertical_page_is_read_right_to_left_and_searched_in_canvas_pixels(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    from repository.extensions import db
    from repository.models import Item, PageText

    drawn = ingest_vertical(runner, tmp_path / "in")
    assert len(drawn.columns) >= 6
    with app.app_context():
        item_id = db.session.execute(db.select(Item.id)).scalar_one()
    result = runner.invoke(args=["ocr", "--item", item_id, "--languages", "chi_tra_vert"])
    assert result.exit_code == 0 and "read 1 pages; 0 failed" in result.output, result.output
    with app.app_context():
        text = db.session.execute(db.select(PageText)).scalar_one()
        read, image_id = text.text, text.image_id
    right, _ = aligned_right(drawn.text, "".join(read.split()))
    assert sum(right) / len(right) >= 0.7, read  # the benchmark reads about 90% here
    manifest = client.get(f"/iiif/{item_id}/manifest").get_json()
    canvas = manifest["items"][0]
    assert (canvas["width"], canvas["height"]) == (drawn.image.width, drawn.image.height)

    alto = client.get(f"/iiif/{item_id}/canvas/{image_id}/text/alto.xml")
    assert alto.status_code == 200
    check_vertical_alto(ET.fromstring(alto.data), canvas["width"], canvas["height"])

    # Content Search 2.0: "學而", the third and fourth characters of the right column.
    found = client.get(f"/iiif/{item_id}/search", query_string={"q": "學而"}).get_json()
    assert found["partOf"]["total"] >= 1
    hit = found["items"][0]
    assert hit["body"]["value"] == "學而"
    target, box = hit["target"].split("#xywh=")
    assert target == canvas["id"]
    check_box(tuple(map(int, box.split(","))), drawn.cells[2], drawn.cells[3])
    quote = found["annotations"][0]["items"][0]["target"]["selector"][0]
    assert quote["exact"] == "學而" and quote["suffix"].startswith("時習")
    # Content Search 1.0, as Mirador asks: the same box.
    old = client.get(f"/iiif/{item_id}/search/1", query_string={"q": "學而"}).get_json()
    assert old["hits"][0]["match"] == "學而"
    check_box(
        tuple(map(int, old["resources"][0]["on"].split("=")[1].split(","))), *drawn.cells[2:4]
    )
    # The page's text annotations: a column each, the right one first, no spaces.
    lines = client.get(canvas["annotations"][0]["id"]).get_json()["items"]
    assert " " not in lines[0]["body"]["value"]
    assert lines[0]["body"]["language"] in {"zh-Hant", "lzh", "lzh-Hant"}  # Han, not "vi"
    first, _ = aligned_right(drawn.columns[0], lines[0]["body"]["value"])
    assert sum(first) >= len(first) * 0.6, lines[0]["body"]["value"]


def check_vertical_alto(root: ET.Element, width: int, height: int) -> None:
    """ALTO v3 with the page's full size, lines that are columns ordered right to left,
    and strings top to bottom inside their column."""
    assert root.tag == f"{A}alto"
    page = root.find(f"{A}Layout/{A}Page")
    assert page is not None and page.find(f"{A}PrintSpace") is not None
    assert (int(page.get("WIDTH", 0)), int(page.get("HEIGHT", 0))) == (width, height)
    lines = list(root.iter(f"{A}TextLine"))
    assert len(lines) >= 6
    boxes = [box_of(line) for line in lines]
    for (x, y, w, h), line in zip(boxes, lines, strict=True):
        assert h > w > 0 and 0 <= x and x + w <= width and 0 <= y and y + h <= height
        strings = [box_of(s) for s in line.findall(f"{A}String")]
        assert strings and [s[1] for s in strings] == sorted(s[1] for s in strings)
        for sx, sy, sw, sh in strings:
            assert x <= sx and sx + sw <= x + w and y <= sy and sy + sh <= y + h
    centres = [x + w / 2 for x, _, w, _ in boxes]
    assert centres == sorted(centres, reverse=True)
    assert not [sp for sp in root.iter(f"{A}SP") if float(sp.get("WIDTH", 0)) < 0]


def box_of(element: ET.Element) -> tuple[int, int, int, int]:
    x, y, w, h = (int(element.get(k, "-1")) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    return x, y, w, h


def check_box(box: tuple[int, ...], *cells: tuple[int, int, int, int]) -> None:
    """The hit's box covers the characters' cells (in canvas pixels), and little else."""
    x, y, w, h = box
    left, top = min(c[0] for c in cells), min(c[1] for c in cells)
    right = max(c[0] + c[2] for c in cells)
    bottom = max(c[1] + c[3] for c in cells)
    overlap_w = max(0, min(x + w, right) - max(x, left))
    overlap_h = max(0, min(y + h, bottom) - max(y, top))
    overlap = overlap_w * overlap_h
    union = w * h + (right - left) * (bottom - top) - overlap
    assert overlap / union >= 0.4, (box, (left, top, right - left, bottom - top))


@needs_tesseract
def test_recognise_gives_canvas_pixels_from_a_reduced_page(tmp_path: Path) -> None:
    drawn = draw_vertical_page(ANALECTS[:96], rows=16, columns=6, cell=CELL)
    source = tmp_path / "page.png"
    drawn.image.pngsave(str(source))
    page = recognise(
        source, drawn.image.width, drawn.image.height, "chi_tra_vert", OcrSettings(max_edge=800)
    )
    hits = find([Page("p", page.words)], "學而")
    assert hits, page.text
    (box,) = hits[0].boxes()
    check_box(box, drawn.cells[2], drawn.cells[3])


def test_the_test_pages_use_a_real_cjk_font() -> None:
    path, family = font()
    assert path.stat().st_size > 1_000_000 and family


@needs_tesseract
def test_curators_are_offered_vertical_han_in_both_languages(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    from repository.extensions import db
    from repository.models import Item
    from tests.helpers import sign_in

    ingest_vertical(runner, tmp_path / "in")
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    sign_in(client, "thuthu", "mat-khau-thu-thu")
    with app.app_context():
        item_id = db.session.execute(db.select(Item.id)).scalar_one()
    labels = {"en": "Classical Chinese (Hán), vertical lines", "vi": "Chữ Hán, dòng dọc"}
    for language, label in labels.items():
        form = client.get(f"/admin/items/{item_id}", headers={"Accept-Language": language})
        page = form.get_data(as_text=True)
        assert f'<option value="chi_tra_vert">{label}</option>' in page
        assert 'value="vie"' in page  # beside Quốc ngữ
