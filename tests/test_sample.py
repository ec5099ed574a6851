"""The sample Hán-Nôm book: drawn in vertical columns with the Han font, read by OCR at
load, found by its Hán words, shown right to left; the other sample books stay."""

from __future__ import annotations

import pytest
import pyvips
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository import sample
from repository.extensions import db
from repository.models import Item, PageText
from repository.services.ocr import installed_languages


def ink(page: pyvips.Image) -> pyvips.Image:
    """1 where the page inside its frame has ink, else 0."""
    grey = page.colourspace("b-w")[0]
    return (grey.crop(120, 120, grey.width - 240, grey.height - 240) < 128).ifthenelse(1, 0)


def runs(sums: list[float]) -> list[tuple[int, int]]:
    """Where the sums are not zero: (start, end) of each run."""
    found, start = [], None
    for x, value in enumerate([*sums, 0]):
        if value and start is None:
            start = x
        elif not value and start is not None:
            found.append((start, x))
            start = None
    return found


def test_pages_are_columns_of_han_read_right_to_left() -> None:
    inked = ink(sample.draw_vertical_page(sample.HAN_NOM_BOOK.text[0]))
    columns_ = inked.project()[0]
    columns = runs([columns_(x, 0)[0] for x in range(columns_.width)])
    assert len(columns) == 7, columns  # the title column and six of the text
    assert all(end - start < 120 for start, end in columns), "one character wide"

    def depth(column: tuple[int, int]) -> int:
        """How far down the column's ink goes."""
        rows = inked.crop(column[0], 0, column[1] - column[0], inked.height).project()[1]
        return max(y for y in range(rows.height) if rows(0, y)[0])

    # The first column holds the title (six characters), so it is the rightmost one and
    # ends halfway down; the twelve-character columns to its left go to the bottom.
    assert depth(columns[-1]) < depth(columns[0]) * 0.7
    assert all(abs(depth(c) - depth(columns[0])) < 60 for c in columns[:-1])


@pytest.fixture
def loaded(app: Flask, runner: FlaskCliRunner) -> Flask:
    """load-sample: the Hán-Nôm book beside the others."""
    result = runner.invoke(args=["load-sample"])
    assert result.exit_code == 0, result.output
    return app


def test_the_han_nom_book_is_found_by_its_han_words_and_read_right_to_left(
    loaded: Flask, client: FlaskClient
) -> None:
    with loaded.app_context():
        items = db.session.execute(db.select(Item)).scalars().all()
        assert len(items) == len(sample.BOOKS) >= 5, "the other sample books stay"
        book = next(i for i in items if i.title.get("lzh") == "大越史記全書")
        book_id = book.id
        texts = db.session.execute(db.select(PageText).filter_by(item_id=book_id)).scalars().all()
    for query in ("史記", "大越", "越史記全"):
        found = client.get("/search", query_string={"q": query}).get_data(as_text=True)
        assert f"/items/{book_id}" in found, query
    manifest = client.get(f"/iiif/{book_id}/manifest").get_json()
    assert manifest["viewingDirection"] == "right-to-left"
    assert manifest["label"]["lzh"] == ["大越史記全書"]
    assert manifest["label"]["vi"] == [sample.HAN_NOM_BOOK.title["vi"]]
    if "chi_tra_vert" not in installed_languages():
        pytest.fail("Tesseract's chi_tra_vert is missing: make installs it")
    assert len(texts) == 2 and all(t.status == "done" for t in texts), [
        (t.status, t.message if hasattr(t, "message") else "") for t in texts
    ]
    recognised = "".join(t.text for t in texts)
    known = set(sample.THOUSAND)
    assert sum(ch in known for ch in recognised) >= len(known) // 2, recognised
