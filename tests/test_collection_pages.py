"""A collection's pages: every page holds what skipping rows would give it, whether it is
found by skipping or by where it starts (services.collections.paginate_kept)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import NotFound

from repository.extensions import db
from repository.models import Collection, Item
from repository.services.access import ANONYMOUS, Viewer, visible_items
from repository.services.collections import paginate_kept

LEVELS = ("open", "restricted", "staff", "degraded", "onsite")


@pytest.fixture
def shelf(app: Flask) -> int:
    """61 items added over two months with clashing instants and titles, in every state."""
    with app.app_context():
        shelf = Collection(slug="ke-sach", title={"vi": "Kệ sách"})
        db.session.add(shelf)
        start = datetime(2024, 3, 1)
        for n in range(61):
            db.session.add(
                Item(
                    collection=shelf,
                    title={"vi": f"Sách {n % 7}"},
                    title_sort=f"sach {n % 7}",  # seven titles, many times each
                    access=LEVELS[n % 5],
                    status="draft" if n % 11 == 0 else "published",
                    embargo_until=date.today() + timedelta(days=9) if n % 13 == 0 else None,
                    created_at=start + timedelta(days=n // 3),  # three at each instant
                )
            )
        db.session.commit()
        return shelf.id


@pytest.mark.parametrize("viewer", [ANONYMOUS, Viewer(role="curator")], ids=["public", "staff"])
@pytest.mark.parametrize("by_title", [False, True], ids=["newest", "title"])
def test_pages_found_by_where_they_start_hold_what_skipping_gives(
    app: Flask, shelf: int, viewer: Viewer, by_title: bool
) -> None:
    order = (Item.title_sort, Item.id) if by_title else (Item.created_at, Item.id)
    listed = db.select(Item).where(Item.collection_id == shelf, visible_items(viewer))
    with app.app_context():
        everything = db.session.execute(listed.order_by(*order)).scalars().all()
        ids = [item.id for item in everything]
        assert len(ids) == 61 if viewer.is_staff else 20 < len(ids) < 61
    pages = -(-len(ids) // 4)
    name = ("test", shelf, by_title, viewer.is_staff)
    for number in range(1, pages + 1):
        with app.test_request_context(f"/?page={number}"):
            found = paginate_kept(listed, name, order, 4, 1)
            assert [item.id for item in found.items] == ids[(number - 1) * 4 : number * 4]
            assert found.total == len(ids) and found.pages == pages
    with app.test_request_context(f"/?page={pages + 1}"), pytest.raises(NotFound):
        paginate_kept(listed, name, order, 4, 1)


def test_a_deep_page_of_a_collection_changes_with_the_catalogue(
    app: Flask, client: FlaskClient, shelf: int
) -> None:
    """Where pages start is kept per state of the catalogue: an item added shows at once,
    on a deep page as on the first."""

    def titles(page: int) -> list[str]:
        body = client.get(f"/collections/ke-sach?page={page}&sort=title").get_data(as_text=True)
        return re.findall(r"Sách \d+[^<]*", body)

    with app.app_context():
        for n in range(300):  # past the tenth page of 24, where pages are sought
            db.session.add(
                Item(
                    collection_id=shelf,
                    title={"vi": f"Sách {n % 7} tập {n}"},
                    title_sort=f"sach {n % 7} tap {n:03}",
                    status="published",
                )
            )
        db.session.commit()
    before = titles(13)
    assert before and titles(13) == before
    with app.app_context():
        db.session.add(
            Item(
                collection_id=shelf,
                title={"vi": "Sách 0 tập mới"},
                title_sort="sach 0 tap 000a",
                status="published",
            )
        )
        db.session.commit()
    after = titles(13)
    assert after != before and after[1:] == before[:-1]  # one earlier: all moved on by one
