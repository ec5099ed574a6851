"""Health, readiness, request ids, JSON logs and Prometheus metrics on both apps."""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import Client

from image_server.telemetry import JsonFormatter, Observed, image_request_class
from tests.helpers import reconfigure


def test_health_and_ready_on_both_apps(site: dict[str, str]) -> None:
    for base in (site["web"], site["image"]):
        assert requests.get(f"{base}/health", timeout=10).status_code == 200
        ready = requests.get(f"{base}/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert set(ready.json().values()) == {"ok"}
    assert set(requests.get(f"{site['web']}/ready", timeout=10).json()) == {
        "database",
        "storage",
        "search",
        "manifests",
    }


def test_not_ready_when_storage_is_gone(app: Flask, client: FlaskClient) -> None:
    assert client.get("/ready").status_code == 200
    root = Path(app.config["STORAGE_URL"].removeprefix("file://"))
    shutil.rmtree(root)
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["storage"].startswith("unreachable")
    assert response.get_json()["database"] == "ok"


def test_ready_names_the_failure_only_to_the_monitoring_network(
    app: Flask, client: FlaskClient
) -> None:
    shutil.rmtree(Path(app.config["STORAGE_URL"].removeprefix("file://")))
    public = client.get("/ready", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert public.status_code == 503 and public.get_json()["storage"] == "unreachable"
    reconfigure(app, MONITOR_NETWORKS=["10.9.0.0/16"])
    outside = client.get("/ready", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert outside.get_json()["storage"] == "unreachable"
    monitor = client.get("/ready", environ_base={"REMOTE_ADDR": "10.9.4.2"})
    assert monitor.status_code == 503
    assert monitor.get_json()["storage"] == "unreachable: FileNotFoundError"


def test_ready_says_when_the_database_refuses_writes(app: Flask, client: FlaskClient) -> None:
    """Still ready (readers are served), but the body says the database is read-only:
    SQLite with query_only, PostgreSQL with read-only transactions, as on a standby."""
    from sqlalchemy import event

    from repository.extensions import db

    with app.app_context():
        engine = db.engine
    statement = (
        "SET default_transaction_read_only = on"
        if engine.dialect.name == "postgresql"
        else "PRAGMA query_only = ON"
    )

    def refuse_writes(connection, _record):  # type: ignore[no-untyped-def]
        cursor = connection.cursor()
        cursor.execute(statement)
        cursor.close()
        connection.commit()  # a SET in a transaction rolled back would be undone

    assert client.get("/ready").get_json()["database"] == "ok"
    event.listen(engine, "connect", refuse_writes)
    engine.dispose()  # pooled connections (PostgreSQL) are made again, read-only
    try:
        response = client.get("/ready")
    finally:
        event.remove(engine, "connect", refuse_writes)
        engine.dispose()
    assert response.status_code == 200
    assert response.get_json() == {
        "database": "read-only",
        "storage": "ok",
        "search": "ok",
        "manifests": "ok",
    }
    assert client.get("/ready").get_json()["database"] == "ok"


def test_request_ids_and_json_logs(site: dict[str, str]) -> None:
    given = requests.get(f"{site['web']}/", headers={"X-Request-Id": "abc-123"}, timeout=10)
    assert given.headers["X-Request-Id"] == "abc-123"
    made = requests.get(f"{site['image']}/health", headers={"X-Request-Id": "<bad id>"}, timeout=10)
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["X-Request-Id"])
    log = Path(site["instance"]) / "repository_app.log"
    for _ in range(50):
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        found = [line for line in lines if line.get("request_id") == "abc-123"]
        if found:
            break
        time.sleep(0.1)
    assert found, "no JSON log line carries the request id"
    assert found[0]["path"] == "/" and found[0]["status"] == 200
    assert found[0]["request_class"] == "page" and found[0]["app"] == "repository"


def metric(body: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_by_request_class_and_cache_hits(site: dict[str, str]) -> None:
    manifest = requests.get(f"{site['web']}/iiif/{site['rtl_item']}/manifest", timeout=10).json()
    service = manifest["items"][0]["items"][0]["items"][0]["body"]["service"][0]["id"]
    before = requests.get(f"{site['image']}/metrics", timeout=10).text
    for _ in range(3):  # a scaled region: rendered once, then served from memory
        assert requests.get(f"{service}/0,0,300,300/150,/0/default.jpg", timeout=30).ok
    assert requests.get(f"{service}/info.json", timeout=10).ok
    after = requests.get(f"{site['image']}/metrics", timeout=10).text
    assert (
        metric(after, "tangthu_requests_total", app="image", request_class="tile")
        - metric(before, "tangthu_requests_total", app="image", request_class="tile")
        == 3
    )
    assert metric(after, "tangthu_requests_total", request_class="info") >= 1
    hits = metric(after, "tangthu_cache_total", cache="memory", result="hit") - metric(
        before, "tangthu_cache_total", cache="memory", result="hit"
    )
    assert hits >= 2
    assert "tangthu_request_seconds_bucket" in after
    requests.get(f"{site['web']}/search?q=kieu", timeout=10)
    web = requests.get(f"{site['web']}/metrics", timeout=10).text
    assert metric(web, "tangthu_requests_total", app="repository", request_class="search") >= 1
    assert metric(web, "tangthu_requests_total", app="repository", request_class="manifest") >= 1


def test_observed_logs_json_with_the_request_id(caplog: Any) -> None:
    def boom(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        logging.getLogger("tangthu.test").warning("inside the request")
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no"]

    app = Observed(boom, "image", image_request_class)
    with caplog.at_level(logging.INFO):
        response = Client(app).get("/iiif/3/x/info.json", headers={"X-Request-Id": "r-1"})
    assert response.status_code == 404 and response.headers["X-Request-Id"] == "r-1"
    formatter = JsonFormatter("image")
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    inside = next(line for line in lines if line["message"] == "inside the request")
    assert inside["request_id"] == "r-1" and inside["level"] == "warning"
    access = next(line for line in lines if line.get("path") == "/iiif/3/x/info.json")
    assert access["status"] == 404 and access["request_class"] == "info"
