"""IIIF Change Discovery 1.0: pages of Create, Update and Delete activities, oldest first."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

CONTEXT = "http://iiif.io/api/discovery/1/context.json"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "DISCOVERY_PAGE_SIZE": 2}


def activities(client: FlaskClient) -> list[dict[str, Any]]:
    """Every activity, following the pages from first to last."""
    collection = client.get("/iiif/discovery/collection").get_json()
    assert collection["@context"] == CONTEXT and collection["type"] == "OrderedCollection"
    found, url = [], collection["first"]["id"]
    while url:
        page = client.get(url.split("127.0.0.1:8000")[-1]).get_json()
        assert (
            page["type"] == "OrderedCollectionPage"
            and page["partOf"]["type"] == "OrderedCollection"
        )
        found += page["orderedItems"]
        url = page.get("next", {}).get("id")
    assert len(found) == collection["totalItems"]
    return found


def test_publish_update_withdraw_and_staff_items(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, make_pages
) -> None:
    from repository.extensions import db
    from repository.models import Item

    ids = []
    for number in range(3):
        folder = make_pages(count=1, name=f"p{number}", width=300 + number * 7)
        args = [
            "ingest",
            str(folder),
            "--collection",
            "c",
            "--title",
            f"Sách {number}",
            "--publish",
        ]
        assert runner.invoke(args=args).exit_code == 0
        with app.app_context():
            ids.append(
                db.session.execute(db.select(Item.id).order_by(Item.created_at.desc())).scalar()
            )
    assert runner.invoke(args=["publish", ids[0]]).exit_code == 0  # an Update
    assert runner.invoke(args=["withdraw", ids[1]]).exit_code == 0  # a Delete
    assert runner.invoke(args=["access", ids[2], "staff"]).exit_code == 0  # gone from view
    found = activities(client)
    summary = [(a["type"], a["object"]["id"].rsplit("/", 2)[-2]) for a in found]
    assert summary == [
        ("Create", ids[0]),
        ("Create", ids[1]),
        ("Update", ids[0]),
        ("Delete", ids[1]),
    ]
    assert all(a["object"]["type"] == "Manifest" and a["endTime"].endswith("Z") for a in found)
    times = [a["endTime"] for a in found]
    assert times == sorted(times)
    assert client.get("/iiif/discovery/page/99").status_code == 404
    assert client.get("/iiif/discovery/page/-1").status_code == 404
    assert client.get("/iiif/discovery/activity/999999").status_code == 404


def test_collections_created_changed_and_deleted(app: Flask, client: FlaskClient) -> None:
    from repository.extensions import db
    from repository.services.collections_admin import (
        Actor,
        CollectionDraft,
        create_collection,
        delete_collection,
        update_collection,
    )

    with app.test_request_context():
        curator = Actor("thuthu")
        made = create_collection("ban-do", CollectionDraft({"vi": "Bản đồ"}), curator)
        db.session.commit()
        update_collection(made, CollectionDraft({"vi": "Bản đồ cổ"}), curator)
        db.session.commit()
        delete_collection(made, curator)
        db.session.commit()
    found = activities(client)
    assert [(a["type"], a["object"]["type"]) for a in found] == [
        ("Create", "Collection"),
        ("Update", "Collection"),
        ("Delete", "Collection"),
    ]
    assert found[0]["object"]["id"].endswith("/iiif/collection/ban-do")


def test_the_total_is_renewed_beside_the_requests(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, make_pages
) -> None:
    """totalItems reads every event: after a change it is as it was until its renewal in
    the background is done (no request waits on it), while the pages show the change."""
    from repository.services.collections import RENEWED

    def publish(number: int) -> None:
        folder = make_pages(count=1, name=f"t{number}", width=320 + number)
        args = ["ingest", str(folder), "--collection", "c", "--title", f"Tờ {number}"]
        assert runner.invoke(args=[*args, "--publish"]).exit_code == 0

    def total() -> int:
        return int(client.get("/iiif/discovery/collection").get_json()["totalItems"])

    publish(1)
    assert total() == 1
    publish(2)
    assert total() == 1  # as it was, while it is counted again
    assert len(client.get("/iiif/discovery/page/0").get_json()["orderedItems"]) == 2
    RENEWED.wait()
    assert total() == 2 and len(activities(client)) == 2
