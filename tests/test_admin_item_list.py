"""The admin's item list at a national library's size: search, filters, sort, paging,
hostile parameters, bounded statements, and bulk actions that need a confirmation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import AuditEvent, Collection, Image, Item
from tests.helpers import count_statements, csrf_token, sign_in

START = datetime(2026, 1, 1)


@pytest.fixture
def curator_client(client: FlaskClient, runner: FlaskCliRunner) -> FlaskClient:
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    sign_in(client, "thuthu", "mat-khau-thu-thu")
    client.get("/lang/en")
    return client


def add_items(app: Flask, slug: str, titles: list[str], **fields: Any) -> list[str]:
    """Items without files in a collection made if new, each a minute after the last."""
    with app.app_context():
        found = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
        if found is None:
            found = Collection(slug=slug, title={"vi": f"Bộ {slug}", "en": f"Set {slug}"})
            db.session.add(found)
            db.session.flush()
        already = db.session.execute(db.select(db.func.count(Item.id))).scalar_one()
        items = [
            Item(
                collection_id=found.id,
                title={"vi": title},
                updated_at=START + timedelta(minutes=already + number),
                **fields,
            )
            for number, title in enumerate(titles)
        ]
        db.session.add_all(items)
        db.session.commit()
        return [item.id for item in items]


def titles_listed(html: str) -> list[str]:
    """The titles in the list's table, in order."""
    if 'class="items item-list"' not in html:
        return []
    body = html.split('class="items item-list"', 1)[1]
    return re.findall(r'<a href="/admin/items/[0-9a-z]+">([^<]+)</a>', body)


def listed(client: FlaskClient, query: str = "") -> list[str]:
    response = client.get(f"/admin/{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return titles_listed(response.get_data(as_text=True))


@pytest.fixture
def catalogue(app: Flask) -> dict[str, list[str]]:
    """Books in two collections, of each status and several access levels."""
    return {
        "kieu": add_items(app, "nom", ["Truyện Kiều"], status="published", access="open"),
        "dai_viet": add_items(
            app, "han", ["Đại Việt sử ký toàn thư"], status="published", access="onsite"
        ),
        "luc_van_tien": add_items(app, "nom", ["Lục Vân Tiên"], status="draft"),
        "viet_su": add_items(app, "han", ["Việt sử thông giám cương mục"], status="withdrawn"),
        "chau_ban": add_items(app, "han", ["Châu bản triều Nguyễn"], access="staff"),
    }


def test_items_are_rows_of_a_table_with_an_access_badge_in_both_languages(
    app: Flask, curator_client: FlaskClient, catalogue: dict[str, list[str]]
) -> None:
    (kieu,) = catalogue["kieu"]
    with app.app_context():
        for position in range(3):
            db.session.add(
                Image(
                    item_id=kieu,
                    position=position,
                    media_type="image/jpeg",
                    width=10,
                    height=10,
                    byte_size=1,
                    sha256="0" * 64,
                    derivative_sha256="0" * 64,
                    master_key="m",
                    pyramid_key="p",
                )
            )
        db.session.commit()
    html = curator_client.get("/admin/").get_data(as_text=True)
    row = re.search(
        r"<tr class=\"status-published\">(?:(?!</tr>).)*Truyện Kiều.*?</tr>", html, re.S
    )
    assert row, html
    cells = re.sub(r"<[^>]+>", " ", row.group())
    assert f'href="/admin/items/{kieu}"' in row.group()
    assert "Set nom" in cells and "Published" in cells and " 3 " in cells
    assert '<span class="access-badge access-open">Open access</span>' in row.group()
    assert '<span class="access-badge access-onsite">Reading room only</span>' in html
    assert '<span class="access-badge access-staff">Staff only</span>' in html
    assert "5 items" in html
    curator_client.get("/lang/vi")
    html = curator_client.get("/admin/").get_data(as_text=True)
    assert '<span class="access-badge access-onsite">Chỉ xem tại phòng đọc</span>' in html
    assert "Cập nhật lần cuối" in html and "5 tài liệu" in html


def test_title_words_are_found_whatever_their_case_tones_and_marks(
    curator_client: FlaskClient, catalogue: dict[str, list[str]]
) -> None:
    assert listed(curator_client, "?q=kieu") == ["Truyện Kiều"]
    assert listed(curator_client, "?q=TRUYEN+KI%E1%BB%80U") == ["Truyện Kiều"]
    assert listed(curator_client, "?q=dai+viet") == ["Đại Việt sử ký toàn thư"]
    assert sorted(listed(curator_client, "?q=viet+su&sort=title")) == [
        "Việt sử thông giám cương mục",
        "Đại Việt sử ký toàn thư",
    ]
    assert listed(curator_client, "?q=nguyen") == ["Châu bản triều Nguyễn"]
    assert listed(curator_client, "?q=van+tien") == ["Lục Vân Tiên"]
    assert listed(curator_client, "?q=kieux") == []
    html = curator_client.get("/admin/?q=kieux").get_data(as_text=True)
    assert "No items match these filters." in html
    assert listed(curator_client, "?q=Vi%E1%BB%87t-s%E1%BB%AD&sort=title") == listed(
        curator_client, "?q=viet+su&sort=title"
    )


def test_each_filter_narrows_the_list(
    curator_client: FlaskClient, catalogue: dict[str, list[str]], app: Flask
) -> None:
    with app.app_context():
        han = db.session.execute(db.select(Collection.id).filter_by(slug="han")).scalar_one()
    assert sorted(listed(curator_client, f"?collection={han}")) == [
        "Châu bản triều Nguyễn",
        "Việt sử thông giám cương mục",
        "Đại Việt sử ký toàn thư",
    ]
    assert listed(curator_client, "?status=draft&sort=title") == [
        "Châu bản triều Nguyễn",
        "Lục Vân Tiên",
    ]
    assert listed(curator_client, "?status=withdrawn") == ["Việt sử thông giám cương mục"]
    assert listed(curator_client, "?access=onsite") == ["Đại Việt sử ký toàn thư"]
    assert listed(curator_client, f"?access=staff&collection={han}") == ["Châu bản triều Nguyễn"]
    assert listed(curator_client, f"?q=viet&status=published&collection={han}") == [
        "Đại Việt sử ký toàn thư"
    ]


def test_sorts_by_title_newest_and_oldest_change(
    curator_client: FlaskClient, catalogue: dict[str, list[str]]
) -> None:
    newest_first = [
        "Châu bản triều Nguyễn",
        "Việt sử thông giám cương mục",
        "Lục Vân Tiên",
        "Đại Việt sử ký toàn thư",
        "Truyện Kiều",
    ]
    assert listed(curator_client) == newest_first
    assert listed(curator_client, "?sort=changed") == newest_first
    assert listed(curator_client, "?sort=oldest") == newest_first[::-1]
    # Vietnamese order: Đ just after D, before L.
    assert listed(curator_client, "?sort=title") == [
        "Châu bản triều Nguyễn",
        "Đại Việt sử ký toàn thư",
        "Lục Vân Tiên",
        "Truyện Kiều",
        "Việt sử thông giám cương mục",
    ]


def test_pages_of_fifty_whose_links_keep_the_filters_and_sort(
    app: Flask, curator_client: FlaskClient
) -> None:
    add_items(app, "lon", [f"Sách số {n:03d}" for n in range(120)], status="draft")
    add_items(app, "lon", [f"Bản in số {n:03d}" for n in range(7)], status="published")
    first = curator_client.get("/admin/?status=draft&sort=title").get_data(as_text=True)
    assert titles_listed(first) == [f"Sách số {n:03d}" for n in range(50)]
    assert "120 items" in first and "Page 1 of 3" in first
    links = re.findall(r'href="(/admin/\?[^"]*page=\d+[^"]*)"', first)
    assert links and all("status=draft" in link and "sort=title" in link for link in links)
    following = links[-1].replace("&amp;", "&")  # "Next"
    second = curator_client.get(following).get_data(as_text=True)
    assert titles_listed(second) == [f"Sách số {n:03d}" for n in range(50, 100)]
    third = curator_client.get("/admin/?status=draft&sort=title&page=3").get_data(as_text=True)
    assert titles_listed(third) == [f"Sách số {n:03d}" for n in range(100, 120)]
    assert 'rel="next"' not in third and 'rel="prev"' in third
    assert 'aria-current="page">3<' in third


@pytest.mark.parametrize(
    "query",
    [
        "?page=0",
        "?page=-3",
        "?page=abc",
        "?page=1e9",
        "?page=99999999999999999999",
        "?page=1&page=2",
        "?sort=title;DROP TABLE item",
        "?sort=-updated_at",
        "?status=everything",
        "?access=%27%20OR%201=1",
        "?collection=abc",
        "?collection=99999999999999999999",
        "?q=%25%25%25___",
        "?q=(.*)%5B%5D%7B%7D%5C",
        "?q=" + "%E6%BC%A2" * 60,  # Han characters: their own codes in the key
        "?q=%00",
    ],
)
def test_hostile_parameters_give_a_sane_page(
    curator_client: FlaskClient, catalogue: dict[str, list[str]], query: str
) -> None:
    response = curator_client.get(f"/admin/{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert 'class="items item-list"' in response.get_data(as_text=True) or (
        "No items match" in response.get_data(as_text=True)
    )


def test_past_the_last_page_shows_the_last(
    curator_client: FlaskClient, catalogue: dict[str, list[str]]
) -> None:
    assert len(listed(curator_client, "?page=999999")) == 5


def test_a_search_too_long_or_of_too_many_words_is_refused_in_both_languages(
    curator_client: FlaskClient, catalogue: dict[str, list[str]]
) -> None:
    long = curator_client.get("/admin/?q=" + "a" * 201)
    assert long.status_code == 400
    assert "Search with at most 200 characters." in long.get_data(as_text=True)
    many = curator_client.get("/admin/?q=" + "+".join("abcdefghi"))
    assert many.status_code == 400
    assert "Search with at most 8 words." in many.get_data(as_text=True)
    curator_client.get("/lang/vi")
    long = curator_client.get("/admin/?q=" + "a" * 5000)
    assert long.status_code == 400
    assert "Hãy tìm với tối đa 200 ký tự." in long.get_data(as_text=True)
    assert curator_client.get("/admin/?q=" + "a" * 200).status_code == 200


def test_statements_do_not_grow_with_the_items(app: Flask, curator_client: FlaskClient) -> None:
    add_items(app, "nom", [f"Sách {n}" for n in range(5)], status="published")
    few = count_statements(app, curator_client, "/admin/?sort=title")
    searched = count_statements(app, curator_client, "/admin/?q=sach&status=published")
    add_items(app, "han", [f"Sách {n}" for n in range(5, 130)], status="published")
    assert count_statements(app, curator_client, "/admin/?sort=title") == few
    assert count_statements(app, curator_client, "/admin/?q=sach&status=published") == searched
    assert count_statements(app, curator_client, "/admin/?page=3") == few


@pytest.fixture
def reader_client(app: Flask, runner: FlaskCliRunner) -> Iterator[FlaskClient]:
    runner.invoke(args=["create-user", "--reader", "docgia", "--password", "mat-khau-doc-gia"])
    reader = app.test_client()
    sign_in(reader, "docgia", "mat-khau-doc-gia")
    yield reader


def test_only_staff_see_the_list_and_use_bulk(
    app: Flask,
    curator_client: FlaskClient,
    reader_client: FlaskClient,
    catalogue: dict[str, list[str]],
) -> None:
    assert listed(curator_client, "?q=kieu") == ["Truyện Kiều"]
    refused = reader_client.get("/admin/?q=kieu")
    assert refused.status_code == 403 and "Truyện Kiều" not in refused.get_data(as_text=True)
    token = csrf_token(reader_client.get("/").get_data(as_text=True))
    (draft,) = catalogue["luc_van_tien"]
    for confirm in ("", "yes"):
        data = {"csrf_token": token, "action": "access:open", "item": [draft], "confirm": confirm}
        assert reader_client.post("/admin/items/bulk", data=data).status_code == 403
    with app.app_context():
        assert db.session.get(Item, draft).access == "open"
        assert db.session.get(Item, catalogue["chau_ban"][0]).access == "staff"


def bulk_data(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    html = client.get("/admin/").get_data(as_text=True)
    return {"csrf_token": csrf_token(html), **fields}


def test_the_action_select_has_no_default_and_an_empty_or_unknown_action_changes_nothing(
    app: Flask, curator_client: FlaskClient, catalogue: dict[str, list[str]]
) -> None:
    html = curator_client.get("/admin/").get_data(as_text=True)
    select = re.search(
        r'<select id="bulk-action" name="action" required>(.*?)</select>', html, re.S
    )
    assert select, html
    options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)<', select.group(1))
    assert options[0] == ("", " selected", "Choose an action…")
    assert all(not chosen for _value, chosen, _label in options[1:])
    ids = [*catalogue["luc_van_tien"], *catalogue["chau_ban"]]
    for action in ("", "delete-everything", "access:nobody"):
        for confirm in ("", "yes"):
            data = bulk_data(curator_client, action=action, item=ids, confirm=confirm)
            refused = curator_client.post("/admin/items/bulk", data=data)
            assert refused.status_code == 400
            assert "Choose one of the actions for the selected items" in refused.get_data(
                as_text=True
            )
    data = bulk_data(curator_client, item=ids, confirm="yes")  # no action at all
    assert curator_client.post("/admin/items/bulk", data=data).status_code == 400
    curator_client.get("/lang/vi")
    data = bulk_data(curator_client, action="", item=ids, confirm="yes")
    refused = curator_client.post("/admin/items/bulk", data=data)
    assert refused.status_code == 400
    assert "Hãy chọn một thao tác" in refused.get_data(as_text=True)
    data = bulk_data(curator_client, action="access:open", confirm="yes")  # no items
    assert curator_client.post("/admin/items/bulk", data=data).status_code == 400
    with app.app_context():
        states = {(i.status, i.access) for i in db.session.execute(db.select(Item)).scalars()}
        assert ("draft", "staff") in states and ("draft", "open") in states
        assert not db.session.execute(
            db.select(AuditEvent).filter_by(action="access-changed")
        ).all()


@pytest.fixture
def draft_id(runner: FlaskCliRunner, make_pages, app: Flask) -> str:  # type: ignore[no-untyped-def]
    """A draft with pages, ready to publish."""
    result = runner.invoke(
        args=[
            "ingest",
            str(make_pages(count=1, width=300, height=200)),
            "--collection",
            "c",
            "--title",
            "Sách nháp",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        return str(db.session.execute(db.select(Item.id)).scalar_one())


def test_bulk_publish_shows_what_will_change_and_waits_for_the_confirmation(
    app: Flask, curator_client: FlaskClient, draft_id: str
) -> None:
    (empty,) = add_items(app, "c", ["Sách chưa có trang"])
    visitor = app.test_client()
    data = bulk_data(curator_client, action="publish", item=[draft_id, empty], back="status=draft")
    shown = curator_client.post("/admin/items/bulk", data=data)
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert "Confirm the bulk action" in html and "1 item will change." in html
    assert "Sách nháp" in html and "Will be published" in html
    assert "Sách chưa có trang" in html and "No change" in html
    assert 'name="confirm" value="yes"' in html
    with app.app_context():
        assert db.session.get(Item, draft_id).status == "draft"
    assert visitor.get(f"/iiif/{draft_id}/manifest").status_code == 404
    confirmed = {**data, "csrf_token": csrf_token(html), "confirm": "yes"}
    done = curator_client.post("/admin/items/bulk", data=confirmed)
    assert done.status_code == 302 and done.location == "/admin/?status=draft"
    with app.app_context():
        assert db.session.get(Item, draft_id).status == "published"
        assert db.session.get(Item, empty).status == "draft"
        events = db.session.execute(db.select(AuditEvent).filter_by(action="publish")).scalars()
        assert [e.target for e in events] == [draft_id]
    assert visitor.get(f"/iiif/{draft_id}/manifest").status_code == 200
    html = curator_client.get(done.location).get_data(as_text=True)
    assert "1 item was changed." in html and "1 item was left as it was." in html


def test_bulk_access_change_and_withdraw_need_the_confirmation_too(
    app: Flask, curator_client: FlaskClient, catalogue: dict[str, list[str]]
) -> None:
    ids = [*catalogue["luc_van_tien"], *catalogue["chau_ban"]]
    data = bulk_data(curator_client, action="access:restricted", item=ids)
    html = curator_client.post("/admin/items/bulk", data=data).get_data(as_text=True)
    assert "Access: Open access → Signed-in readers" in html
    assert "Access: Staff only → Signed-in readers" in html
    with app.app_context():
        assert {db.session.get(Item, i).access for i in ids} == {"open", "staff"}
    curator_client.post("/admin/items/bulk", data={**data, "confirm": "yes"})
    with app.app_context():
        assert {db.session.get(Item, i).access for i in ids} == {"restricted"}
    (viet_su,) = catalogue["viet_su"]
    data = bulk_data(curator_client, action="withdraw", item=[viet_su])
    html = curator_client.post("/admin/items/bulk", data=data).get_data(as_text=True)
    assert "No change" in html and "disabled" in html  # withdrawn already: nothing to do
