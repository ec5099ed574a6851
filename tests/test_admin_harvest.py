"""Harvest sources in the admin: addresses checked as every harvest fetch checks them,
and "harvest now" on the job queue, as `tangthu harvest --all --queue`. Real SQLite, the
real queue's embedded worker, a real (closed) port."""

from __future__ import annotations

import html as html_text
import re
import socket
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import AuditEvent, Collection, HarvestSource, Item, Job
from tests.helpers import csrf_token, reconfigure, sign_in

EN = {"Accept-Language": "en"}
VI = {"Accept-Language": "vi"}


def _run(runner: FlaskCliRunner, *args: str) -> None:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output


@pytest.fixture
def curator(app: Flask, runner: FlaskCliRunner) -> FlaskClient:
    _run(runner, "create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu")
    client = app.test_client()
    sign_in(client, "thuthu", "mat-khau-thu-thu")
    return client


def _add(client: FlaskClient, lang: dict[str, str] = EN, **fields: object):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/admin/harvest", headers=lang).get_data(as_text=True))
    data = {"csrf_token": token, "collection": 0, **fields}
    return client.post("/admin/harvest", data=data, headers=lang)


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html_text.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def _sources(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.execute(db.select(HarvestSource.url)).scalars())


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_source_is_added_edited_and_deleted(app: Flask, curator: FlaskClient) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/oai"
    response = _add(curator, url=url, institution="Thư viện Huế", set_spec="han-nom")
    assert response.status_code == 302
    with app.app_context():
        source = db.session.execute(db.select(HarvestSource)).scalar_one()
        assert (source.institution, source.set_spec) == ("Thư viện Huế", "han-nom")
        assert source.collection.slug.startswith("harvest-127-0-0-1-")
        source_id, collection_id = source.id, source.collection_id
        item = Item(collection_id=collection_id, title={"vi": "Đã thu"}, harvest_id="oai:x:1")
        item.harvest_source_id = source_id
        db.session.add(item)
        db.session.commit()
    assert url in _text(curator.get("/admin/harvest", headers=EN))
    page = f"/admin/harvest/{source_id}"
    token = csrf_token(curator.get(page).get_data(as_text=True))
    fields = {"url": url, "institution": "Huế", "set_spec": "", "collection": collection_id}
    assert curator.post(page, data={"csrf_token": token, **fields}).status_code == 302
    with app.app_context():
        assert db.session.get(HarvestSource, source_id).institution == "Huế"  # type: ignore[union-attr]
    # Changed to the cloud's metadata address, it is refused and stays as it was.
    moved = {**fields, "url": "http://169.254.169.254/latest/meta-data/"}
    response = curator.post(page, data={"csrf_token": token, **moved}, headers=EN)
    assert response.status_code == 422 and "169.254.169.254 is" in _text(response)
    assert _sources(app) == [url]
    response = curator.post(f"{page}/delete", data={"csrf_token": token}, headers=EN)
    assert response.status_code == 302
    assert _sources(app) == []
    with app.app_context():
        kept = db.session.execute(db.select(Item)).scalar_one()
        assert kept.harvest_source_id is None  # the record stays, no longer harvested
        actions = set(db.session.execute(db.select(AuditEvent.action)).scalars())
    assert {"harvest-source-added", "harvest-source-changed", "harvest-source-deleted"} <= actions


@pytest.mark.parametrize(
    "url, shown",
    [
        ("http://127.0.0.1/oai", "127.0.0.1 is a private or local address (loopback)"),
        ("http://10.1.2.3/oai", "10.1.2.3 is a private or local address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a private or local"),
        ("http://[::1]/oai", "::1 is a private or local address"),
    ],
)
def test_local_addresses_are_refused_as_the_harvester_refuses_them(
    app: Flask, curator: FlaskClient, url: str, shown: str
) -> None:
    reconfigure(app, HARVEST_ALLOW_NETWORKS=[])  # the default of a deployment
    response = _add(curator, url=url)
    assert response.status_code == 422
    page = _text(response)
    assert "This address cannot be harvested" in page and shown in page
    assert "TANGTHU_HARVEST_ALLOW_NETWORKS" in page and "Traceback" not in page
    vi = _text(_add(curator, VI, url=url))
    assert "Không thể thu thập từ địa chỉ này" in vi
    assert _sources(app) == []
    with app.app_context():  # nor is a collection made for it
        assert db.session.execute(db.select(Collection)).scalars().all() == []


def test_an_allowed_network_opens_only_itself(app: Flask, curator: FlaskClient) -> None:
    """The tests' settings allow 127.0.0.0/8; 10.x stays refused."""
    assert _add(curator, url="http://10.0.0.1/oai").status_code == 422
    assert _add(curator, url=f"http://127.0.0.1:{_closed_port()}/oai").status_code == 302


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/oai", "gopher://127.0.0.1/", "javascript:1"]
)
def test_only_http_addresses(app: Flask, curator: FlaskClient, url: str) -> None:
    response = _add(curator, url=url)
    assert response.status_code == 422, url
    assert _sources(app) == []


def test_the_same_address_twice_is_refused(app: Flask, curator: FlaskClient) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/oai"
    assert _add(curator, url=url).status_code == 302
    response = _add(curator, url=url)
    assert response.status_code == 409 and "harvested already" in _text(response)
    assert _sources(app) == [url]


def test_harvest_now_queues_the_job_and_shows_its_result(app: Flask, curator: FlaskClient) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/oai"  # nothing answers there
    assert _add(curator, url=url).status_code == 302
    token = csrf_token(curator.get("/admin/harvest").get_data(as_text=True))
    response = curator.post("/admin/harvest/run", data={"csrf_token": token}, headers=EN)
    assert response.status_code == 302
    deadline = time.monotonic() + 60
    while True:
        with app.app_context():
            job = db.session.execute(db.select(Job).filter_by(kind="harvest")).scalar_one()
            if job.status in ("done", "failed") or time.monotonic() > deadline:
                break
        time.sleep(0.2)
    assert job.status == "done", job.message
    assert url in job.message
    page = _text(curator.get("/admin/harvest", headers=EN))
    assert "failed after 0 pages" in page and "httpError" in page
    assert f"#{job.id}" in page


def test_readers_visitors_and_forged_posts_are_refused(
    app: Flask, runner: FlaskCliRunner, curator: FlaskClient
) -> None:
    _run(runner, "create-user", "--reader", "docgia", "--password", "mat-khau-doc-gia")
    reader = app.test_client()
    sign_in(reader, "docgia", "mat-khau-doc-gia")
    anonymous = app.test_client()
    assert reader.get("/admin/harvest").status_code == 403
    assert anonymous.get("/admin/harvest").status_code == 302
    token = csrf_token(reader.get("/").get_data(as_text=True))
    url = "http://partner.example/oai"
    assert reader.post("/admin/harvest", data={"csrf_token": token, "url": url}).status_code == 403
    assert reader.post("/admin/harvest/run", data={"csrf_token": token}).status_code == 403
    # A curator's form without its CSRF token.
    assert curator.post("/admin/harvest", data={"url": url, "collection": 0}).status_code == 400
    assert curator.post("/admin/harvest/run").status_code == 400
    assert _sources(app) == []
    with app.app_context():
        assert db.session.execute(db.select(Job)).scalars().all() == []
