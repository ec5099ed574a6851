"""Browsing the catalogue (public.browse) and moving on from an item: by collection, date,
subject, creator, place, title and newest, each paged; the item page's previous and next
items, related items and the text of its pages. Every one of them lists only what the
viewer may see (services.access): staff-only, draft, withdrawn and embargoed items never
reach an anonymous visitor or a reader, and a restricted item's text never leaves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import Collection, Image, Item, PageText, ReaderGroup
from repository.services.collections import RENEWED
from tests.helpers import count_statements, sign_in

EN = {"Accept-Language": "en"}
VI = {"Accept-Language": "vi"}
SECRET = "Mật thư"  # the title, subject, creator and place of every hidden item


@dataclass(frozen=True)
class Catalogue:
    first: str  # open, the oldest of "sach"
    second: str  # open, after the hidden ones in "sach"
    restricted: str  # open to signed-in readers in "sach", with page text
    grouped: str  # in "nhom", for the group "ban-doc" alone
    hidden: tuple[str, ...]  # staff-only, draft, withdrawn, embargoed, all in "sach"


def _image(item: Item, position: int) -> Image:
    return Image(
        item=item,
        position=position,
        label=f"tr. {position}",
        media_type="image/jpeg",
        width=1000,
        height=1400,
        byte_size=1,
        sha256="0" * 64,
        derivative_sha256="0" * 64,
        master_key=f"m/{item.id}/{position}",
        pyramid_key=f"p/{item.id}/{position}",
    )


def _item(collection: Collection, title: str, minute: int, **fields: Any) -> Item:
    values = {"status": "published", "access": "open", **fields}
    return Item(
        collection=collection,
        title={"vi": title},
        created_at=datetime(2026, 1, 1) + timedelta(minutes=minute),
        **values,
    )


def _dc(subject: str, creator: str, place: str, when: str) -> dict[str, Any]:
    return {
        "subject": [{"value": subject, "lang": "vi"}],
        "creator": [{"value": creator}],
        "coverage": [{"value": place}],
        "date": [{"value": when}],
    }


@pytest.fixture
def catalogue(app: Flask, runner: FlaskCliRunner) -> Catalogue:
    with app.app_context():
        sach = Collection(slug="sach", title={"vi": "Sách cổ", "en": "Old books"})
        group = ReaderGroup(name="ban-doc")
        nhom = Collection(slug="nhom", title={"vi": "Kho nhóm"}, groups=[group])
        first = _item(
            sach,
            "Đại Việt sử ký toàn thư",
            1,
            dc=_dc("Lịch sử", "Ngô Sĩ Liên", "Đại Việt", "1479"),
            year_start=1479,
            viewing_direction="right-to-left",
        )
        hidden = [
            _item(sach, SECRET, 2, access="staff"),
            _item(sach, SECRET, 3, status="draft"),
            _item(sach, SECRET, 4, status="withdrawn"),
            _item(sach, SECRET, 5, embargo_until=date.today() + timedelta(days=30)),
        ]
        for item in hidden:
            item.dc = _dc(SECRET, SECRET, SECRET, "1650")
            item.year_start = 1650
        second = _item(
            sach, "Bình Ngô đại cáo", 6, dc=_dc("Lịch sử", "Nguyễn Trãi", "Thăng Long", "1428")
        )
        second.year_start = 1428
        restricted = _item(sach, "Châu bản", 7, access="restricted")
        restricted.dc = _dc("Hành chính", "Triều Nguyễn", "Huế", "1845")
        restricted.year_start = 1845
        grouped = _item(nhom, "Sổ nhóm", 8, access="restricted", dc=_dc("Lịch sử", "", "", ""))
        db.session.add_all([sach, nhom, first, *hidden, second, restricted, grouped])
        db.session.flush()
        for item in (first, restricted, grouped, hidden[0]):
            pages = [_image(item, n) for n in range(1, 4)]
            db.session.add_all(pages)
            db.session.flush()
            for page in pages[1:]:  # the first page has no text
                db.session.add(
                    PageText(
                        image_id=page.id,
                        item_id=item.id,
                        languages="chi_tra_vert",
                        status="done",
                        text=f"大越史記 {item.title['vi']} {page.position}",
                    )
                )
        db.session.commit()
        made = Catalogue(
            first.id, second.id, restricted.id, grouped.id, tuple(i.id for i in hidden)
        )
    for role, name in (("--reader", "docgia"), ("--curator", "thuthu")):
        result = runner.invoke(args=["create-user", role, name, "--password", f"mat-khau-{name}"])
        assert result.exit_code == 0, result.output
    assert runner.invoke(args=["reindex"]).exit_code == 0
    return made


@pytest.fixture
def reader(client: FlaskClient, catalogue: Catalogue) -> FlaskClient:
    sign_in(client, "docgia", "mat-khau-docgia")
    return client


@pytest.fixture
def curator(app: Flask, catalogue: Catalogue) -> FlaskClient:
    staff = app.test_client()
    sign_in(staff, "thuthu", "mat-khau-thuthu")
    return staff


BROWSE_PAGES = (
    "/browse",
    "/browse/collections",
    "/browse/date",
    "/browse/date?century=16",
    "/browse/date?decade=1650",
    "/browse/subject",
    "/browse/subject?sort=name",
    "/browse/creator",
    "/browse/place",
    "/browse/title",
    "/browse/title?letter=M",
    "/browse/recent",
)


def _text(client: FlaskClient, url: str, headers: dict[str, str] = EN) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


@pytest.mark.parametrize("who", ["anonymous", "reader"])
def test_hidden_items_are_nowhere_in_browse(
    request: pytest.FixtureRequest, client: FlaskClient, catalogue: Catalogue, who: str
) -> None:
    browsing = request.getfixturevalue("reader") if who == "reader" else client
    for url in BROWSE_PAGES:
        page = _text(browsing, url)
        assert SECRET not in page, url
        assert not any(hidden in page for hidden in catalogue.hidden), url
    assert browsing.get("/browse/subject?term=" + SECRET).status_code == 404
    assert "16th century" not in _text(browsing, "/browse/date")  # only hidden items in 1650


def test_staff_browse_everything(curator: FlaskClient, catalogue: Catalogue) -> None:
    """The same pages do list hidden items to staff: the tests above can tell."""
    assert SECRET in _text(curator, "/browse/subject")
    assert all(i in _text(curator, "/browse/date?decade=1650") for i in catalogue.hidden)
    assert catalogue.hidden[0] in _text(curator, "/browse/subject?term=" + SECRET)


def test_each_way_lists_its_items_with_counts(client: FlaskClient, catalogue: Catalogue) -> None:
    overview = _text(client, "/browse")
    for section in ("By collection", "By date", "Subjects", "Creators", "Places", "Title A–Z"):
        assert section in overview
    assert re.search(r"Old books</a> <span class=\"count\">3</span>", overview)
    assert re.search(r"Kho nhóm</a> <span class=\"count\">1</span>", overview)
    # Subjects by count, each linking to its listing.
    subjects = _text(client, "/browse/subject")
    assert re.search(r"Lịch sử</a> <span class=\"count\">3</span>", subjects)
    assert subjects.index("Lịch sử") < subjects.index("Hành chính")
    listed = _text(client, "/browse/subject?term=l%E1%BB%8Bch+s%E1%BB%AD")  # any case
    assert catalogue.first in listed and catalogue.second in listed
    assert catalogue.restricted not in listed
    assert catalogue.first in _text(client, "/browse/creator?term=Ngô Sĩ Liên")
    places = _text(client, "/browse/place")
    assert "Thăng Long" in places and "Huế" in places
    assert catalogue.restricted in _text(client, "/browse/place?term=Huế")
    # Dates: centuries, then decades in one, then a decade's items.
    dates = _text(client, "/browse/date")
    assert "15th century" in dates and "19th century" in dates
    century = _text(client, "/browse/date?century=14")
    assert "The 1470s" in century and "The 1420s" in century
    assert catalogue.first in century and catalogue.second in century
    decade = _text(client, "/browse/date?decade=1470")
    assert catalogue.first in decade and catalogue.second not in decade
    # A–Z, in Vietnamese order: Đ is its own letter after D.
    titles = _text(client, "/browse/title")
    assert titles.index("Bình Ngô") < titles.index("Châu bản") < titles.index("Đại Việt")
    assert catalogue.first in _text(client, "/browse/title?letter=Đ")
    assert catalogue.first not in _text(client, "/browse/title?letter=D")
    # Newest first.
    recent = _text(client, "/browse/recent")
    assert recent.index(catalogue.grouped) < recent.index(catalogue.second)
    assert recent.index(catalogue.second) < recent.index(catalogue.first)


def test_browse_speaks_vietnamese(client: FlaskClient, catalogue: Catalogue) -> None:
    overview = _text(client, "/browse", VI)
    assert "Duyệt" in overview and "Mới bổ sung" in overview
    assert "Thế kỷ XV" in _text(client, "/browse/date", VI)
    assert "Chủ đề" in _text(client, "/browse/subject", VI)


def test_places_say_when_none_is_recorded(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        shelf = Collection(slug="ke", title={"vi": "Kệ"})
        db.session.add(_item(shelf, "Sách không nơi", 1))
        db.session.commit()
    assert "No item records a place" in _text(client, "/browse/place")


def test_listings_are_paged_and_bounded(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        shelf = Collection(slug="ke", title={"vi": "Kệ"})
        db.session.add_all(
            _item(shelf, f"Sách {n:02d}", n, year_start=1800 + n, dc=_dc(f"Đề {n:02d}", "", "", ""))
            for n in range(60)
        )
        db.session.commit()
    first = _text(client, "/browse/title")
    assert first.count('class="card"') == 24 and 'rel="next"' in first
    third = _text(client, "/browse/title?page=3")
    assert third.count('class="card"') == 12 and 'rel="next"' not in third
    assert "Sách 59" in third
    assert _text(client, "/browse/subject").count('<li><a href="/browse/subject?term=') == 60
    assert _text(client, "/browse/date?century=18&page=2").count('class="card"') == 24
    assert client.get("/browse/title?page=99999").status_code == 404
    assert client.get("/browse/recent?page=11").status_code == 404
    assert client.get("/browse/title?letter=%3Cscript%3E").status_code == 404
    assert client.get("/browse/nothing").status_code == 404
    recent = _text(client, "/browse/recent?page=2")
    assert recent.count('class="card"') == 24 and "Sách 35" in recent


def test_browse_statements_do_not_grow_with_the_items(app: Flask, client: FlaskClient) -> None:
    def add(start: int, count: int) -> None:
        with app.app_context():
            shelf = db.session.execute(db.select(Collection).filter_by(slug="ke")).scalar()
            shelf = shelf or Collection(slug="ke", title={"vi": "Kệ"})
            db.session.add_all(
                _item(shelf, f"Sách {n}", n, year_start=1800, dc=_dc("Đề", "Tác giả", "", ""))
                for n in range(start, start + count)
            )
            db.session.commit()

    urls = ("/browse/title?page=2", "/browse/subject?term=Đề&page=2", "/browse/recent?page=2")
    add(0, 50)
    for url in urls:
        count_statements(app, client, url)  # the kept counts, worked out once
    few = [count_statements(app, client, url) for url in urls]
    add(50, 100)
    for url in urls:
        count_statements(app, client, url)
    RENEWED.wait()  # the counts' renewals, which ran beside these requests
    assert [count_statements(app, client, url) for url in urls] == few


def test_counts_are_renewed_beside_the_requests(app: Flask, client: FlaskClient) -> None:
    """After a change, a count reads as it was until its renewal is done; what it leads
    to is read fresh at once."""

    def add(name: str, n: int) -> None:
        with app.app_context():
            shelf = db.session.execute(db.select(Collection).filter_by(slug="ke")).scalar()
            shelf = shelf or Collection(slug="ke", title={"vi": "Kệ"})
            db.session.add(_item(shelf, name, n, dc=_dc("Địa chí", "", "", "")))
            db.session.commit()

    def count() -> str:
        found = re.search(
            r"Địa chí</a> <span class=\"count\">(\d+)", _text(client, "/browse/subject")
        )
        return found.group(1) if found else ""

    add("Sách một", 1)
    assert count() == "1"
    add("Sách hai", 2)
    assert count() == "1"  # as it was, while it is worked out again
    assert "Sách hai" in _text(client, "/browse/subject?term=Địa chí")  # the entries: fresh
    RENEWED.wait()
    assert count() == "2"


def _neighbours(page: str) -> tuple[str, str]:
    before = re.search(r'class="previous-item" rel="prev" href="/items/([^"]+)"', page)
    after = re.search(r'class="next-item" rel="next" href="/items/([^"]+)"', page)
    return (before.group(1) if before else "", after.group(1) if after else "")


def test_previous_and_next_skip_what_the_viewer_may_not_see(
    client: FlaskClient, catalogue: Catalogue, curator: FlaskClient
) -> None:
    assert _neighbours(_text(client, f"/items/{catalogue.first}")) == ("", catalogue.second)
    middle = _neighbours(_text(client, f"/items/{catalogue.second}"))
    assert middle == (catalogue.first, catalogue.restricted)
    assert _neighbours(_text(client, f"/items/{catalogue.restricted}")) == (catalogue.second, "")
    # Staff walk through the hidden ones too.
    staff = _neighbours(_text(curator, f"/items/{catalogue.first}"))
    assert staff == ("", catalogue.hidden[0])
    assert "Previous item" in _text(client, f"/items/{catalogue.second}")
    assert "Tài liệu trước" in _text(client, f"/items/{catalogue.second}", VI)


def test_previous_and_next_of_items_added_in_the_same_second_go_by_id(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        sach = Collection(slug="cung-giay", title={"vi": "Cùng giây"})
        made = [_item(sach, f"Sách {n}", 5) for n in range(3)]
        db.session.add_all(made)
        db.session.commit()
        ids = sorted(item.id for item in made)
    assert _neighbours(_text(client, f"/items/{ids[0]}")) == ("", ids[1])
    assert _neighbours(_text(client, f"/items/{ids[1]}")) == (ids[0], ids[2])
    assert _neighbours(_text(client, f"/items/{ids[2]}")) == (ids[1], "")


def test_related_items_share_a_subject_or_creator_and_are_visible(
    client: FlaskClient, catalogue: Catalogue, reader: FlaskClient
) -> None:
    page = _text(client, f"/items/{catalogue.first}")
    related = page[page.index('class="related"') :]
    assert catalogue.second in related and catalogue.grouped in related
    assert catalogue.first not in related and catalogue.restricted not in related
    secret = _text(reader, f"/items/{catalogue.second}")
    assert not any(hidden in secret for hidden in catalogue.hidden)


def test_related_items_leave_out_hidden_ones(
    app: Flask, client: FlaskClient, catalogue: Catalogue, runner: FlaskCliRunner
) -> None:
    """An open item sharing the hidden items' subject: its related list stays empty for
    the public, while the hidden ones would match."""
    with app.app_context():
        sach = db.session.execute(db.select(Collection).filter_by(slug="sach")).scalar_one()
        lone = _item(sach, "Sách mở", 20, dc=_dc(SECRET, SECRET, "", ""))
        db.session.add(lone)
        db.session.commit()
        lone_id = lone.id
    assert runner.invoke(args=["reindex"]).exit_code == 0
    page = _text(client, f"/items/{lone_id}")
    assert 'class="related"' not in page
    assert not any(hidden in page for hidden in catalogue.hidden)


def test_page_text_panel_and_json(client: FlaskClient, catalogue: Catalogue) -> None:
    page = _text(client, f"/items/{catalogue.first}")
    assert 'id="page-text"' in page and "Text of this page" in page
    assert "大越史記 Đại Việt sử ký toàn thư 2" in page  # the first page with text
    assert 'class="page-text-body vertical"' in page
    assert "Văn bản của trang này" in _text(client, f"/items/{catalogue.first}", VI)
    url = f"/items/{catalogue.first}/page-text.json"
    third = client.get(f"{url}?page=3").get_json()
    assert third["page"] == 3 and third["pages"] == 3 and third["vertical"] is True
    assert third["text"].endswith(" 3") and third["label"] == "tr. 3"
    first = client.get(f"{url}?page=1").get_json()
    assert first["text"] == "" and first["page"] == 1
    by_image = client.get(f"{url}?image={third['image']}").get_json()
    assert by_image == third
    assert client.get(f"{url}?page=4").status_code == 404
    other = client.get(f"/items/{catalogue.restricted}/page-text.json?page=2").get_json()
    assert other is None or "image" not in other
    # An image of another item is not this item's page.
    assert client.get(f"/items/{catalogue.second}/page-text.json?page=1").status_code == 404


def test_text_never_leaves_with_the_pages_closed(
    client: FlaskClient, catalogue: Catalogue, reader: FlaskClient, app: Flask
) -> None:
    anonymous = app.test_client()
    for hidden in catalogue.hidden[:1]:  # staff only, with text
        assert anonymous.get(f"/items/{hidden}/page-text.json?page=2").status_code == 404
        assert reader.get(f"/items/{hidden}/page-text.json?page=2").status_code == 404
    # Restricted: anonymous visitors see the record, not the text.
    response = anonymous.get(f"/items/{catalogue.restricted}/page-text.json?page=2")
    assert response.status_code == 403 and "大越" not in response.get_data(as_text=True)
    assert 'id="page-text"' not in _text(anonymous, f"/items/{catalogue.restricted}")
    # A reader sees it in full; a group's item stays closed to a reader outside the group.
    assert (
        "大越"
        in reader.get(f"/items/{catalogue.restricted}/page-text.json?page=2").get_json()["text"]
    )
    assert 'id="page-text"' in _text(reader, f"/items/{catalogue.restricted}")
    closed = reader.get(f"/items/{catalogue.grouped}/page-text.json?page=2")
    assert closed.status_code == 403 and "大越" not in closed.get_data(as_text=True)


def test_home_shows_recently_added_and_keeps_it_fresh(
    app: Flask, client: FlaskClient, catalogue: Catalogue, curator: FlaskClient
) -> None:
    home = _text(client, "/")
    section = home[home.index('class="recently-added"') :]
    assert catalogue.grouped in section and catalogue.first in section
    assert not any(hidden in section for hidden in catalogue.hidden)
    assert "Mới bổ sung" in _text(client, "/", VI)
    staff_home = _text(curator, "/")
    assert catalogue.hidden[3] in staff_home[staff_home.index('class="recently-added"') :]
    with app.app_context():
        sach = db.session.execute(db.select(Collection).filter_by(slug="sach")).scalar_one()
        newest = _item(sach, "Sách vừa thêm", 90)
        db.session.add(newest)
        db.session.commit()
        newest_id = newest.id
    again = _text(client, "/")
    assert newest_id in again[again.index('class="recently-added"') :]


def test_the_public_counts_are_worked_out_ahead_as_a_process_starts(
    app: Flask, client: FlaskClient
) -> None:
    """repository.serve starts count_ahead: the first visitor of /browse reads kept counts
    and counts nothing."""
    from sqlalchemy import event

    from repository.public.browse import count_ahead

    with app.app_context():
        shelf = Collection(slug="ke", title={"vi": "Kệ"})
        db.session.add(
            _item(shelf, "Sách một", 1, year_start=1820, dc=_dc("Đề", "Tác giả", "", ""))
        )
        db.session.commit()
    count_ahead(app).join(30)
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def listener(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert "Đề" in _text(client, "/browse")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert seen and not [s for s in seen if "count(" in s]  # no count worked out here
