"""Digitisation progress against the national programme: categories, holdings, the
dashboard, its report (CSV and printable) and the public JSON of counts."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import Collection, Image, Item, PageText, ProgrammeHoldings
from repository.services import programme
from tests.helpers import csrf_token, sign_in

PASSWORD = "mat-khau-thu-thu"


@pytest.fixture
def curator(client: FlaskClient, runner: FlaskCliRunner) -> FlaskClient:
    result = runner.invoke(args=["create-user", "--curator", "thuthu", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, "thuthu", PASSWORD)
    return client


def add_item(
    collection: Collection,
    pages: int,
    created: datetime,
    status: str = "draft",
    published: datetime | None = None,
    title: str = "Sách",
    texts: int = 0,
) -> Item:
    item = Item(
        collection=collection,
        title={"vi": title},
        status=status,
        published_at=published,
        created_at=created,
    )
    item.images = [
        Image(
            position=n,
            media_type="image/jpeg",
            width=100,
            height=100,
            byte_size=1,
            sha256="0" * 64,
            derivative_sha256="0" * 64,
            master_key="m",
            pyramid_key="p",
            created_at=created,
        )
        for n in range(1, pages + 1)
    ]
    db.session.add(item)
    db.session.flush()
    for image in item.images[:texts]:
        db.session.add(
            PageText(
                image_id=image.id,
                item_id=item.id,
                languages="vie",
                status="done",
                updated_at=created,
            )
        )
    return item


@pytest.fixture
def library(app: Flask) -> dict[str, str]:
    """Two ancient-and-rare items (one published), a local-history one with text, one other."""
    with app.app_context():
        ancient = Collection(
            slug="han-nom", title={"vi": "Hán Nôm"}, programme_category="ancient_rare"
        )
        local = Collection(
            slug="dia-chi", title={"vi": "Địa chí"}, programme_category="local_history"
        )
        other = Collection(slug="khac", title={"vi": "Khác"})
        jan = datetime(2026, 1, 15, 10)
        add_item(ancient, 3, jan, "published", datetime(2026, 2, 3), title="Sách mật")
        add_item(ancient, 2, jan)
        add_item(local, 4, datetime(2026, 3, 1), "published", datetime(2026, 3, 2), texts=2)
        add_item(other, 1, jan)
        db.session.add(
            ProgrammeHoldings(
                category="ancient_rare", titles=10, pages=20, counted_on=date(2026, 1, 2)
            )
        )
        db.session.commit()
        return {"collection": str(ancient.id)}


def test_category_totals_percentages_and_projection(app: Flask, library: dict[str, str]) -> None:
    with app.app_context():
        board = programme.dashboard(date(2026, 1, 1), date(2026, 6, 30))
    rows = {row.category: row for row in board.categories}
    ancient = rows[programme.Category.ANCIENT_RARE]
    assert ancient.figures == programme.Figures(2, 5, 1, 3, 0, 0)
    assert (ancient.percent_titles, ancient.percent_pages) == (20.0, 25.0)
    assert ancient.target == 70
    # 14 pages make 70% of 20; 9 remain at 5 pages in six months (5/6 a month): 11 months.
    assert ancient.projection.state == "on_pace"
    assert ancient.projection.pace == pytest.approx(5 / 6)
    assert ancient.projection.month == date(2027, 5, 1)
    local = rows[programme.Category.LOCAL_HISTORY]
    assert local.figures == programme.Figures(1, 4, 1, 4, 1, 2)
    assert local.percent_pages is None and local.projection.state == "no_holdings"
    assert board.overall.figures == programme.Figures(4, 10, 2, 7, 1, 2)
    assert board.overall.holdings is not None and board.overall.holdings.pages == 20


def test_a_month_boundary_splits_pages_and_ends_the_figures(
    app: Flask, library: dict[str, str]
) -> None:
    with app.app_context():
        theses = Collection(slug="luan-an", programme_category="theses_research")
        add_item(theses, 2, datetime(2026, 4, 30, 23, 59, 59))
        add_item(theses, 5, datetime(2026, 5, 1, 0, 0, 0))
        db.session.commit()
        april = programme.dashboard(date(2026, 4, 1), date(2026, 4, 30))
        may = programme.dashboard(date(2026, 4, 1), date(2026, 5, 31))
    by_month = {p.month: p.pages_digitised for p in may.months}
    assert by_month == {date(2026, 4, 1): 2, date(2026, 5, 1): 5}
    theses_row = {r.category: r for r in april.categories}[programme.Category.THESES_RESEARCH]
    assert theses_row.figures.pages_digitised == 2  # the May pages are after the period
    published = {p.month: p.pages_published for p in may.months}
    assert published == {date(2026, 4, 1): 0, date(2026, 5, 1): 0}


def test_holdings_are_checked_and_saved(curator: FlaskClient, app: Flask) -> None:
    page = curator.get("/admin/programme")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    bad = {
        "category": "local_history",
        "titles": "nhiều",
        "pages": "-5",
        "counted_on": "2026-13-01",
    }
    refused = curator.post("/admin/programme/holdings", data={**bad, "csrf_token": token})
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "Enter a whole number" in text and "YYYY-MM-DD" in text
    vietnamese = curator.post(
        "/admin/programme/holdings",
        data={**bad, "csrf_token": token},
        headers={"Accept-Language": "vi"},
    )
    assert vietnamese.status_code == 400 and "Nhập một số nguyên" in vietnamese.get_data(
        as_text=True
    )
    with app.app_context():
        assert db.session.execute(db.select(ProgrammeHoldings)).first() is None
    good = {
        **bad,
        "titles": "1.200",
        "pages": "45000",
        "counted_on": "2026-01-05",
        "note": "Kiểm kê",
    }
    saved = curator.post("/admin/programme/holdings", data={**good, "csrf_token": token})
    assert saved.status_code == 302
    with app.app_context():
        held = programme.current_holdings()[programme.Category.LOCAL_HISTORY]
    assert (held.titles, held.pages, held.note) == (1200, 45000, "Kiểm kê")
    assert "45,000" in curator.get("/admin/programme?start=2026-01-01").get_data(as_text=True)


def test_collections_get_a_category(curator: FlaskClient, app: Flask) -> None:
    with app.app_context():
        found = Collection(slug="bia", title={"vi": "Bia"})
        db.session.add(found)
        db.session.commit()
        collection_id = found.id
    token = csrf_token(curator.get("/admin/programme").get_data(as_text=True))
    url = f"/admin/programme/collections/{collection_id}/category"
    assert curator.post(url, data={"category": "nonsense", "csrf_token": token}).status_code == 400
    assert (
        curator.post(url, data={"category": "ancient_rare", "csrf_token": token}).status_code == 302
    )
    with app.app_context():
        assert db.session.get(Collection, collection_id).programme_category == "ancient_rare"  # type: ignore[union-attr]


def test_the_dashboard_and_report_in_both_languages(
    curator: FlaskClient, library: dict[str, str]
) -> None:
    period = "start=2026-01-01&end=2026-06-30"
    page = curator.get(f"/admin/programme?{period}").get_data(as_text=True)
    assert "<svg" in page and "style=" not in page.split("<svg", 1)[1].split("</svg>")[0]
    assert "20.0%" in page and "25.0%" in page and "05/2027" in page
    report = curator.get(f"/admin/programme/report?{period}").get_data(as_text=True)
    assert "Tàng Thư Library" in report and "2026-01-01" in report and "2026-06-30" in report
    rows = list(
        csv.reader(
            io.StringIO(
                curator.get(f"/admin/programme/report.csv?{period}")
                .get_data(as_text=True)
                .lstrip("\ufeff")
            )
        )
    )
    assert rows[0] == ["Library", "Tàng Thư Library"]
    assert rows[1] == ["Period", "2026-01-01", "2026-06-30"]
    ancient = next(r for r in rows if r and r[0].startswith("Ancient"))
    assert ancient[1:6] == ["10", "20", "2", "5", "1"] and ancient[-1] == "70"
    vi = curator.get(f"/admin/programme/report.csv?{period}", headers={"Accept-Language": "vi"})
    assert vi.get_data(as_text=True).lstrip("\ufeff").startswith("Thư viện,Thư viện Tàng Thư")
    assert curator.get("/admin/programme?start=2026-02-30").status_code == 400
    assert curator.get("/admin/programme?start=2026-06-01&end=2026-01-01").status_code == 400


def test_the_public_json_has_counts_and_never_titles(
    client: FlaskClient, library: dict[str, str]
) -> None:
    response = client.get("/statistics/programme.json?start=2026-01-01&end=2026-06-30")
    assert response.status_code == 200
    body = response.get_json()
    ancient = next(c for c in body["categories"] if c["category"] == "ancient_rare")
    assert ancient["pages_digitised"] == 5 and ancient["percent_pages_digitised"] == 25.0
    assert ancient["target_percent"] == 70 and ancient["target_month"] == "2027-05"
    assert body["overall"]["titles_digitised"] == 4
    assert "Sách mật" not in response.get_data(as_text=True)
    assert client.get("/statistics/programme.json?end=yesterday").status_code == 400


def test_the_dashboard_is_for_curators_only(client: FlaskClient) -> None:
    assert client.get("/admin/programme").status_code in (302, 401)


def test_a_projection_past_a_century_says_so_rather_than_give_a_year() -> None:
    holdings = programme.Holdings(programme.Category.LOCAL_HISTORY, 10, 1_000_000, date(2026, 1, 1))
    far = programme.project(
        programme.Category.LOCAL_HISTORY, programme.Figures(), holdings, 2.5, date(2026, 6, 30)
    )
    assert far.state == "beyond" and far.month is None
    near = programme.project(
        programme.Category.LOCAL_HISTORY,
        programme.Figures(),
        holdings,
        100_000.0,
        date(2026, 6, 30),
    )
    assert near.state == "on_pace" and near.month == date(2027, 4, 1)
    assert (
        programme.project(None, programme.Figures(), holdings, 1.0, date(2026, 6, 30)).state
        == "no_target"
    )
