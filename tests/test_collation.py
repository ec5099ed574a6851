"""Vietnamese alphabetical order (services.collation.sort_key), and the stored key that
collection pages and search sort by."""

from __future__ import annotations

import random

import pytest
from flask import Flask
from flask.testing import FlaskClient

from repository.services.collation import MAX_KEY, sort_key


def in_order(words: list[str]) -> list[str]:
    return sorted(words, key=sort_key)


@pytest.mark.pure
def test_the_letters_of_the_vietnamese_alphabet() -> None:
    alphabet = "a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y".split()
    shuffled = alphabet[:]
    random.Random(4).shuffle(shuffled)
    assert in_order(shuffled) == alphabet
    # Not the order of code points, nor of the letters folded to ASCII.
    assert sorted(alphabet) != alphabet
    assert in_order(["đa", "dz", "da", "e"]) == ["da", "dz", "đa", "e"]


@pytest.mark.pure
def test_tones_are_a_secondary_difference_in_the_dictionaries_order() -> None:
    tones = ["ma", "mà", "mả", "mã", "má", "mạ"]  # ngang, huyền, hỏi, ngã, sắc, nặng
    assert in_order(list(reversed(tones))) == tones
    # A tone never outweighs a letter: "mạ" is before "mai", "má" before "mă".
    assert in_order(["mai", "mạ", "mă", "má"]) == ["má", "mạ", "mai", "mă"]
    assert in_order(["ắn", "ăn", "ằn", "an"]) == ["an", "ăn", "ằn", "ắn"]


@pytest.mark.pure
def test_words_and_case() -> None:
    assert in_order(["anh", "an bình", "an"]) == ["an", "an bình", "anh"]
    assert in_order(["Lục Vân Tiên", "lục vân tiên, quyển 2", "Luật"]) == [
        "Luật",
        "Lục Vân Tiên",
        "lục vân tiên, quyển 2",
    ]
    assert sort_key("Đại Việt") == sort_key("đại  việt") == sort_key("ĐẠI VIỆT!")
    assert sort_key("à") < sort_key("a b")  # the letters decide before the tones


@pytest.mark.pure
def test_han_after_latin_by_code_point_and_digits_first() -> None:
    titles = ["大越史記全書", "𡨸傳翹", "Truyện Kiều", "1884", "Ô Châu cận lục", "Zalo"]
    assert in_order(titles) == [
        "1884",
        "Ô Châu cận lục",
        "Truyện Kiều",
        "Zalo",
        "大越史記全書",
        "𡨸傳翹",  # Extension B, after the basic block
    ]


@pytest.mark.pure
def test_the_key_is_plain_lowercase_ascii_and_bounded() -> None:
    for title in ("Đại Việt sử ký toàn thư", "大越史記全書" * 40, "", "  ,;  ", "Ñandú ǅ"):
        key = sort_key(title)
        assert key.isascii() and key == key.lower() and key.isalnum()
        assert len(key) <= MAX_KEY


@pytest.mark.pure
@pytest.mark.parametrize("title", ["ma", "Mã", "mả", "大越"])
def test_a_title_and_a_longer_one_that_begins_with_it(title: str) -> None:
    assert sort_key(title) < sort_key(title + " a")


def test_items_keep_their_key_and_pages_sort_by_it(app: Flask) -> None:
    """The stored key follows the title on insert and on update, and orders items."""
    from repository.extensions import db
    from repository.models import Collection, Item

    with app.app_context():
        collection = Collection(slug="c", title={"vi": "C"})
        titles = ["Ông già", "ăn mày", "Đại Nam", "an", "大南寔錄", "dân"]
        for n, title in enumerate(titles):
            db.session.add(
                Item(id=f"i{n}", collection=collection, title={"vi": title}, status="published")
            )
        db.session.commit()
        item = db.session.get(Item, "i3")
        assert item is not None and item.title_sort == sort_key("an")
        item.title = {"vi": "ê a", "en": "E"}
        db.session.commit()
        assert db.session.get(Item, "i3").title_sort == sort_key("ê a")  # type: ignore[union-attr]
        listed = db.session.execute(db.select(Item.title).order_by(Item.title_sort)).scalars()
        assert [t["vi"] for t in listed] == [
            "ăn mày",
            "dân",
            "Đại Nam",
            "ê a",
            "Ông già",
            "大南寔錄",
        ]


def test_the_collection_page_sorts_by_title_in_vietnamese_order(
    app: Flask, client: FlaskClient
) -> None:
    from repository.extensions import db
    from repository.models import Collection, Item

    titles = ["Ông già", "ăn mày", "Đại Nam", "an", "大南寔錄", "dân", "Anh hùng"]
    with app.app_context():
        collection = Collection(slug="sach", title={"vi": "Sách"})
        for n, title in enumerate(titles):
            db.session.add(
                Item(id=f"t{n}", collection=collection, title={"vi": title}, status="published")
            )
        db.session.commit()
    page = client.get("/collections/sach?sort=title").get_data(as_text=True)
    shown = sorted(titles, key=lambda t: page.index(f"<span>{t}</span>"))
    assert shown == ["an", "Anh hùng", "ăn mày", "dân", "Đại Nam", "Ông già", "大南寔錄"]
    added = client.get("/collections/sach").get_data(as_text=True)
    assert sorted(titles, key=lambda t: added.index(f"<span>{t}</span>")) == titles
