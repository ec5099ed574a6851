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
from repository.jobs import submit
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


def _job(app: Flask, job_id: int | None = None) -> Job:
    """The (newest) harvest job once the embedded worker has ended it."""
    deadline = time.monotonic() + 60
    while True:
        with app.app_context():
            query = db.select(Job).filter_by(kind="harvest").order_by(Job.id.desc())
            job = db.session.get(Job, job_id) if job_id else db.session.execute(query).scalar()
            assert job is not None
            db.session.expunge(job)
        if job.status in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def _two_sources(app: Flask, curator: FlaskClient) -> tuple[tuple[int, str], tuple[int, str]]:
    urls = [f"http://127.0.0.1:{_closed_port()}/oai/{n}" for n in (1, 2)]
    for url in urls:
        assert _add(curator, url=url).status_code == 302
    with app.app_context():
        rows = db.session.execute(
            db.select(HarvestSource.id, HarvestSource.url).order_by(HarvestSource.id)
        ).all()
    first, second = (tuple(row) for row in rows)
    return first, second  # type: ignore[return-value]


def _post(client: FlaskClient, url: str) -> int:
    token = csrf_token(client.get("/admin/harvest").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token}, headers=EN).status_code


def _last_runs(app: Flask) -> dict[str, object]:
    with app.app_context():
        rows = db.session.execute(db.select(HarvestSource.url, HarvestSource.last_run_at)).all()
        return {url: at for url, at in rows}


def test_a_disabled_source_is_left_out_of_harvest_all_and_refused_alone(
    app: Flask, curator: FlaskClient
) -> None:
    (kept_id, kept), (off_id, off) = _two_sources(app, curator)
    assert _post(curator, f"/admin/harvest/{off_id}/disable") == 302
    page = _text(curator.get("/admin/harvest", headers=VI))
    assert "Đã vô hiệu hoá" in page or "Đã tắt" in page
    assert _post(curator, "/admin/harvest/run") == 302
    job = _job(app)
    assert job.status == "done", job.message
    assert kept in job.message and off not in job.message
    assert "1 disabled sources left out" in job.message
    runs = _last_runs(app)
    assert runs[kept] is not None and runs[off] is None  # never fetched
    # Alone, from its button: refused, and no task is queued.
    assert _post(curator, f"/admin/harvest/{off_id}/run") == 302
    assert "This source is disabled" in _text(curator.get("/admin/harvest", headers=EN))
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(Job)).scalar() == 1
        # A task asked for it before it was disabled fails with the reason.
        job_id = submit("harvest", {"source_id": off_id}).id
        missing_id = submit("harvest", {"source_id": 999}).id
    refused, missing = _job(app, job_id), _job(app, missing_id)
    assert refused.status == "failed" and f"{off} is disabled" in refused.message
    assert missing.status == "failed" and "harvest source 999 does not exist" in missing.message
    assert _last_runs(app)[off] is None
    # Enabled again, it is harvested with the others.
    assert _post(curator, f"/admin/harvest/{off_id}/enable") == 302
    assert _post(curator, "/admin/harvest/run") == 302
    again = _job(app)
    assert off in again.message and "disabled" not in again.message
    with app.app_context():
        actions = [
            (e.action, e.actor, e.target)
            for e in db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars()
        ]
    assert ("harvest-source-disabled", "thuthu", off) in actions
    assert ("harvest-source-enabled", "thuthu", off) in actions
    assert kept_id != off_id


def test_harvest_now_for_one_source_harvests_only_it(app: Flask, curator: FlaskClient) -> None:
    (one_id, one), (_, other) = _two_sources(app, curator)
    page = curator.get("/admin/harvest", headers=EN).get_data(as_text=True)
    assert f'action="/admin/harvest/{one_id}/run"' in page
    assert _post(curator, f"/admin/harvest/{one_id}/run") == 302
    job = _job(app)
    assert job.params == {"full": False, "source_id": one_id}
    # Nothing answers at its address: the task fails with the source's reason.
    assert job.status == "failed" and job.message.startswith(f"{one}: httpError")
    runs = _last_runs(app)
    assert runs[one] is not None and runs[other] is None
    with app.app_context():
        queued = db.session.execute(
            db.select(AuditEvent).filter_by(action="harvest-queued")
        ).scalar_one()
        assert (queued.actor, queued.target, queued.detail) == ("thuthu", one, f"job {job.id}")


def test_the_command_line_disables_enables_and_queues_one_source(
    app: Flask, runner: FlaskCliRunner, curator: FlaskClient
) -> None:
    (_, one), (_, other) = _two_sources(app, curator)
    result = runner.invoke(args=["harvest", one, "--disable"])
    assert result.exit_code == 0 and f"disabled {one}" in result.output
    refused = runner.invoke(args=["harvest", one])
    assert refused.exit_code != 0 and "is disabled" in refused.output
    result = runner.invoke(args=["harvest", "--all"])
    assert one not in result.output and other in result.output
    assert _last_runs(app)[one] is None
    assert runner.invoke(args=["harvest", one, "--enable"]).exit_code == 0
    result = runner.invoke(args=["harvest", one, "--queue", "--wait"])
    job = _job(app)
    assert job.params.get("source_id") is not None and one in job.message, result.output
    unknown = runner.invoke(args=["harvest", "http://127.0.0.1:9/none", "--disable"])
    assert unknown.exit_code != 0 and "no harvest source" in unknown.output


def test_source_buttons_need_staff_and_their_csrf_token(
    app: Flask, runner: FlaskCliRunner, curator: FlaskClient
) -> None:
    (one_id, _), _ = _two_sources(app, curator)
    _run(runner, "create-user", "--reader", "docgia", "--password", "mat-khau-doc-gia")
    reader = app.test_client()
    sign_in(reader, "docgia", "mat-khau-doc-gia")
    token = csrf_token(reader.get("/").get_data(as_text=True))
    for action in ("run", "disable", "enable"):
        url = f"/admin/harvest/{one_id}/{action}"
        assert reader.post(url, data={"csrf_token": token}).status_code == 403
        assert curator.post(url).status_code == 400
    assert _post(curator, "/admin/harvest/999/run") == 404
    with app.app_context():
        assert db.session.execute(db.select(Job)).scalars().all() == []
        assert all(db.session.execute(db.select(HarvestSource.enabled)).scalars())
