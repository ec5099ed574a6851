"""COUNTER usage: what is recorded from real requests, what is left out (robots, double
clicks), how uniques are counted with no address stored, and who sees the figures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import Collection, Item, UsageCount, UsageSalt
from repository.public.statistics import recorder
from repository.services import usage
from tests.helpers import sign_in

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
ADDRESS = "203.0.113.77"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The background flush waits an hour: each test flushes when it means to."""
    return {**app_config, "USAGE_FLUSH_SECONDS": 3600}


@pytest.fixture
def items(app: Flask) -> dict[str, str]:
    with app.app_context():
        books = Collection(slug="sach", title={"vi": "Sách"})
        locked = Collection(slug="kin", title={"vi": "Kín"}, default_access="restricted")
        found = {
            "open": Item(collection=books, title={"vi": "Truyện Kiều"}, status="published"),
            "restricted": Item(
                collection=locked, title={"vi": "Mật bản"}, status="published", access="restricted"
            ),
            "draft": Item(collection=books, title={"vi": "Bản nháp"}),
        }
        db.session.add_all(found.values())
        db.session.commit()
        return {name: item.id for name, item in found.items()}


def visit(client: FlaskClient, path: str, agent: str = BROWSER, address: str = ADDRESS) -> int:
    response = client.get(
        path, headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": address}
    )
    return response.status_code


def counts(app: Flask) -> list[tuple[Any, ...]]:
    with app.app_context():
        recorder(app).flush()
        rows = db.session.execute(
            db.select(UsageCount.item_id, UsageCount.metric, UsageCount.session, UsageCount.hits)
        ).all()
        return [tuple(row) for row in rows]


def test_a_page_view_is_an_investigation_and_a_crawler_is_not_counted(
    app: Flask, client: FlaskClient, items: dict[str, str]
) -> None:
    assert visit(client, f"/items/{items['open']}", CRAWLER) == 200
    assert visit(client, f"/items/{items['open']}/record.json", "") == 200  # no agent: a machine
    assert counts(app) == []
    assert visit(client, f"/items/{items['open']}") == 200
    assert visit(client, f"/items/{items['draft']}") == 404  # a refusal is not a use
    assert visit(client, "/items/nothing-here") == 404
    [(item_id, metric, _, hits)] = counts(app)
    assert (item_id, metric, hits) == (items["open"], usage.INVESTIGATION, 1)


def test_double_clicks_within_30_seconds_count_once(
    app: Flask, client: FlaskClient, items: dict[str, str]
) -> None:
    for _ in range(3):
        assert visit(client, f"/items/{items['open']}") == 200
    assert visit(client, f"/items/{items['open']}/record.json") == 200  # another action
    [(_, _, _, hits)] = counts(app)
    assert hits == 2
    # The same click 31 seconds later is a new one (the recorder's own clock, moved on).
    hit = usage.Hit(
        datetime.now(UTC).replace(tzinfo=None),
        "another",
        usage.INVESTIGATION,
        "public.item",
        ADDRESS,
        BROWSER,
    )
    kept = recorder(app)
    assert kept.record(hit, now=1000.0) and not kept.record(hit, now=1029.0)
    assert kept.record(hit, now=1060.0)
    assert kept.flush() == 2


def test_uniques_are_counted_with_no_address_stored(
    app: Flask, client: FlaskClient, items: dict[str, str], instance: Path
) -> None:
    for address in (ADDRESS, "198.51.100.23"):
        assert visit(client, f"/items/{items['open']}", address=address) == 200
        assert visit(client, f"/items/{items['open']}/record.json", address=address) == 200
    rows = counts(app)
    assert sorted(hits for *_, hits in rows) == [2, 2]  # two sessions, two uses each
    with app.app_context():
        table = db.session.execute(db.select(UsageCount)).scalars().all()
        salts = db.session.execute(db.select(UsageSalt)).scalars().all()
        columns = {c.name for c in UsageCount.__table__.columns}
    assert columns == {"month", "item_id", "metric", "session", "hits"}
    assert len({row.session for row in table}) == 2 and len(salts) == 1
    secrets = (ADDRESS, "198.51.100.23", "Chrome/131.0")
    values = " ".join(str(v) for row in table for v in (row.item_id, row.session, row.month))
    assert not [secret for secret in secrets if secret in values]
    database = instance / "tangthu.sqlite"  # the SQLite file itself, where it is one
    if database.exists():
        stored = database.read_bytes()
        assert not [secret for secret in secrets if secret.encode() in stored]
    with app.app_context():
        report = usage.usage_by_item(date(2000, 1, 1), date(2100, 1, 1))
    month = date.today().replace(day=1)
    assert report[items["open"]][month].metrics() == {
        "Total_Item_Investigations": 4,
        "Unique_Item_Investigations": 2,
        "Total_Item_Requests": 0,
        "Unique_Item_Requests": 0,
    }


def test_salts_rotate_daily_and_months_split_at_midnight(app: Flask) -> None:
    def hit(at: datetime, metric: str = usage.INVESTIGATION) -> usage.Hit:
        return usage.Hit(at, "abc", metric, "public.item", ADDRESS, BROWSER)

    with app.app_context():
        usage.store([hit(datetime(2026, 1, 31, 23, 59, 59)), hit(datetime(2026, 2, 1, 0, 0, 0))])
        usage.store([hit(datetime(2026, 2, 3, 9), usage.REQUEST)])
        salts = {row.day for row in db.session.execute(db.select(UsageSalt)).scalars()}
        by_month = usage.usage_by_item(date(2026, 1, 1), date(2026, 2, 28))["abc"]
    assert salts == {date(2026, 2, 3)}  # the salts of days gone are deleted
    assert by_month[date(2026, 1, 1)].metrics()["Total_Item_Investigations"] == 1
    february = by_month[date(2026, 2, 1)]
    # A request is an investigation too; each day's session hash differs.
    assert (february.total_investigations, february.unique_investigations) == (2, 2)
    assert (february.total_requests, february.unique_requests) == (1, 1)


def test_a_restricted_items_figures_are_for_curators_only(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, items: dict[str, str]
) -> None:
    with app.app_context():
        usage.store(
            [
                usage.Hit(
                    datetime.now(UTC).replace(tzinfo=None),
                    items[name],
                    usage.INVESTIGATION,
                    "public.item",
                    ADDRESS,
                    BROWSER,
                )
                for name in ("open", "restricted", "draft")
            ]
        )
    public = client.get("/statistics/usage.json")
    assert public.status_code == 200
    body = public.get_json()
    assert body["Report_Header"]["Report_ID"] == "IR" and body["Report_Header"]["Release"] == "5.1"
    ids = [entry["Item_ID"]["Proprietary"] for entry in body["Report_Items"]]
    assert ids == [f"tangthu:{items['open']}"]
    text = public.get_data(as_text=True)
    assert items["restricted"] not in text and "Mật bản" not in text and "Bản nháp" not in text
    performance = body["Report_Items"][0]["Attribute_Performance"][0]["Performance"]
    assert list(performance["Total_Item_Investigations"].values()) == [1]
    assert client.get("/statistics/usage.json?begin=2026-13").status_code == 400

    result = runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-1"])
    assert result.exit_code == 0, result.output
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, "thuthu", "mat-khau-1")
    staff = client.get("/admin/usage/ir.json").get_json()
    assert len(staff["Report_Items"]) == 3
    page = client.get("/admin/usage").get_data(as_text=True)
    assert "Mật bản" in page and "<svg" in page
    rows = list(
        csv.reader(
            io.StringIO(
                client.get("/admin/usage/items.csv").get_data(as_text=True).lstrip("\ufeff")
            )
        )
    )
    assert rows[0][-4:] == list(usage.METRICS) and len(rows) == 4
    collections = client.get("/admin/usage/collections.csv").get_data(as_text=True)
    assert "kin," in collections and "sach," in collections


def test_recording_can_be_turned_off(app_config: dict[str, Any], items: dict[str, str]) -> None:
    from repository import create_app

    quiet = create_app({**app_config, "USAGE_RECORDING": "false"})
    assert (
        quiet.test_client()
        .get(f"/items/{items['open']}", headers={"User-Agent": BROWSER})
        .status_code
        == 200
    )
    assert counts(quiet) == []
