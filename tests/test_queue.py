"""The job queue with real workers: `tangthu worker` processes on SQLite and on real Redis,
task states and retry in the admin, and PDFs built by a worker within bounds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import Item, Job
from tests.helpers import csrf_token, sign_in
from tests.redis_server import redis_service, redis_url  # noqa: F401
from tests.servers import ROOT


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request: pytest.FixtureRequest) -> str:
    """The embedded default (a SQLite file in the instance), then a real Redis."""
    if request.param == "sqlite":
        return ""
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def app_config(app_config: dict[str, Any], queue_url: str) -> dict[str, Any]:
    # No worker thread in the test process: only `tangthu worker` processes run jobs.
    return {**app_config, "QUEUE_URL": queue_url, "QUEUE_EMBEDDED_WORKER": False}


def worker_env(app: Flask) -> dict[str, str]:
    """What a worker on this machine is given: the same instance, database and queue."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANGTHU_")}
    env["TANGTHU_INSTANCE_PATH"] = app.instance_path
    env["TANGTHU_QUEUE_URL"] = str(app.config.get("QUEUE_URL") or "")
    if app.config.get("DATABASE_URL"):
        env["TANGTHU_DATABASE_URL"] = str(app.config["DATABASE_URL"])
    return env


def worker_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "repository.cli", "worker", *args]


def run_worker(app: Flask) -> str:
    """A worker process that runs what is queued, then exits; its output."""
    done = subprocess.run(
        worker_command("--burst"),
        env=worker_env(app),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def jobs(app: Flask) -> list[Job]:
    with app.app_context():
        found = db.session.execute(db.select(Job).order_by(Job.id)).scalars().all()
        db.session.expunge_all()
        return list(found)


def items(app: Flask) -> list[tuple[str, int]]:
    with app.app_context():
        found = db.session.execute(db.select(Item)).scalars().all()
        return [(item.id, len(item.images)) for item in found]


@pytest.fixture
def curator(client: FlaskClient, runner: FlaskCliRunner) -> FlaskClient:
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    sign_in(client, "thuthu", "mat-khau-thu-thu")
    return client


def test_an_ingest_on_the_queue_is_run_by_a_worker_process_once(
    app: Flask, runner: FlaskCliRunner, make_pages: Any
) -> None:
    folder = make_pages(count=3, width=600, height=400)
    queued = runner.invoke(args=["ingest", str(folder), "--collection", "c", "--queue"])
    assert queued.exit_code == 0, queued.output
    [job] = jobs(app)
    assert (job.kind, job.status) == ("ingest", "queued")
    assert items(app) == []  # the command did not do the work itself
    assert "ran 1 jobs" in run_worker(app)
    [job] = jobs(app)
    assert (job.status, job.done, job.total, job.attempts) == ("done", 3, 3, 1)
    [(item_id, pages)] = items(app)
    assert pages == 3 and job.item_id == item_id
    # The same files again: the job is idempotent, and leaves the one item.
    runner.invoke(args=["ingest", str(folder), "--collection", "c", "--queue"])
    run_worker(app)
    assert items(app) == [(item_id, 3)]
    assert "already ingested" in jobs(app)[-1].message


def test_a_failed_task_shows_its_reason_and_a_curator_retries_it(
    app: Flask, curator: FlaskClient, runner: FlaskCliRunner, make_pages: Any
) -> None:
    folder = make_pages(count=2, width=500, height=400)
    good = (folder / "2.jpg").read_bytes()
    (folder / "2.jpg").write_text("<svg/>")
    runner.invoke(args=["ingest", str(folder), "--collection", "c", "--queue"])
    run_worker(app)
    [job] = jobs(app)
    assert job.status == "failed" and "2.jpg: is not an accepted image" in job.message
    page = curator.get("/admin/tasks", headers={"Accept-Language": "en"}).get_data(as_text=True)
    row = page.split(f'id="task-{job.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Failed" in row and "is not an accepted image" in row and "Retry" in row
    listed = curator.get("/admin/tasks?status=failed", headers={"Accept": "application/json"})
    assert [t["id"] for t in listed.get_json()["tasks"]] == [job.id]
    (folder / "2.jpg").write_bytes(good)  # the curator fixes the file, then retries
    token = csrf_token(page)
    answer = curator.post(f"/admin/tasks/{job.id}/retry", data={"csrf_token": token})
    assert answer.status_code == 302
    assert jobs(app)[0].status == "queued"
    again = curator.post(f"/admin/tasks/{job.id}/retry", data={"csrf_token": token})
    assert again.status_code == 302 and jobs(app)[0].status == "queued"  # no second copy
    run_worker(app)
    assert jobs(app)[0].status == "done" and len(items(app)) == 1
    vi = curator.get("/admin/tasks", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert "<h1>Tác vụ</h1>" in vi and ">Xong<" in vi  # the states in Vietnamese too


def test_the_admin_shows_a_running_task_with_its_progress_bar(
    app: Flask, curator: FlaskClient
) -> None:
    with app.app_context():
        db.session.add(Job(kind="ocr", status="running", done=3, total=10))
        db.session.add(Job(kind="pdf", status="queued", item_id="itemabc"))
        db.session.commit()
    page = curator.get("/admin/tasks", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<progress max="10" value="3"' in page
    assert "Running" in page and "Queued" in page and "Text recognition" in page
    assert 'href="/admin/items/itemabc"' in page and "PDF download" in page
    assert "Retry" not in page  # nothing has failed
    assert 'http-equiv="refresh"' in page  # it follows the tasks until they end
    assert 'href="/admin/tasks"' in curator.get("/admin/").get_data(as_text=True)


def test_a_job_whose_worker_died_runs_again_and_gives_up_after_three_tries(app: Flask) -> None:
    from repository.jobs import recover
    from repository.services.pending import owner

    dead = subprocess.Popen(["true"])
    dead.wait()
    host = owner().rpartition(":")[0]
    with app.app_context():
        once = Job(kind="reindex", status="running", owner=f"{host}:{dead.pid}", attempts=1)
        thrice = Job(kind="reindex", status="running", owner=f"{host}:{dead.pid}", attempts=3)
        alive = Job(kind="reindex", status="running", owner=owner(), attempts=1)
        db.session.add_all([once, thrice, alive])
        db.session.commit()
        assert recover() == 1
    once_after, thrice_after, alive_after = jobs(app)
    assert once_after.status == "queued" and once_after.owner == ""
    assert thrice_after.status == "failed" and "stopped 3 times" in thrice_after.message
    assert alive_after.status == "running"  # this test's own process is alive
    run_worker(app)
    assert jobs(app)[0].status == "done" and jobs(app)[0].attempts == 2


def test_the_cli_puts_long_commands_on_the_queue(
    app: Flask, runner: FlaskCliRunner, make_pages: Any
) -> None:
    result = runner.invoke(args=["ingest", str(make_pages(count=1)), "--collection", "c"])
    assert result.exit_code == 0, result.output
    runner.invoke(args=["publish", "--all"])
    for args in (["publish", "--all", "--queue"], ["reindex", "--queue"], ["ocr", "--queue"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0 and "queued job" in result.output, result.output
    refused = runner.invoke(args=["publish", "some-id", "--queue"])
    assert refused.exit_code != 0 and "--queue goes with --all" in refused.output
    assert [j.status for j in jobs(app)] == ["queued"] * 3
    run_worker(app)
    finished = jobs(app)
    assert [(j.kind, j.status) for j in finished] == [
        ("publish_all", "done"),
        ("reindex", "done"),
        ("ocr", "done"),
    ]
    assert finished[1].message == "indexed 0 items" or finished[1].message.startswith("indexed")


@pytest.fixture
def published(app: Flask, runner: FlaskCliRunner, make_pages: Any) -> Iterator[str]:
    result = runner.invoke(
        args=["ingest", str(make_pages(count=2, width=700)), "--collection", "c", "--publish"]
    )
    assert result.exit_code == 0, result.output
    [(item_id, _)] = items(app)
    runner.invoke(args=["access", item_id, "open"])
    yield item_id


def test_a_pdf_is_prepared_by_a_worker_then_served(
    app: Flask, client: FlaskClient, published: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repository.services import downloads

    monkeypatch.setattr(downloads, "PDF_WAIT", 0.3)
    url = f"/items/{published}/download.pdf"
    first = client.get(url, headers={"Accept-Language": "vi"})
    assert first.status_code == 202 and first.headers["Retry-After"] == "5"
    assert "Tệp PDF của bạn đang được chuẩn bị" in first.get_data(as_text=True)
    asked = client.get(url, headers={"Accept": "application/json", "Accept-Language": "en"})
    assert asked.status_code == 202
    assert asked.get_json()["title"] == "Your PDF is being prepared"
    assert [(j.kind, j.item_id, j.status) for j in jobs(app)] == [("pdf", published, "queued")]
    run_worker(app)
    done = client.get(url)
    assert done.status_code == 200 and done.data.startswith(b"%PDF")
    import pypdfium2

    assert len(pypdfium2.PdfDocument(done.data)) == 2
    assert len(jobs(app)) == 1  # served from storage, not made again


def test_pdf_jobs_are_bounded_per_item_and_in_total(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    published: str,
    make_pages: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from repository.services import downloads

    monkeypatch.setattr(downloads, "PDF_WAIT", 0.0)
    monkeypatch.setattr(downloads, "PDF_JOBS_WAITING", 1)
    for _ in range(5):  # readers asking again and again make one job
        assert client.get(f"/items/{published}/download.pdf").status_code == 202
    assert len(jobs(app)) == 1
    other = make_pages(count=1, name="other")
    runner.invoke(args=["ingest", str(other), "--collection", "c", "--publish"])
    second = next(item_id for item_id, _ in items(app) if item_id != published)
    runner.invoke(args=["access", second, "open"])
    full = client.get(f"/items/{second}/download.pdf", headers={"Accept-Language": "en"})
    assert full.status_code == 503 and full.headers["Retry-After"]
    assert "many PDFs are being prepared" in full.get_data(as_text=True)
    assert len(jobs(app)) == 1
    run_worker(app)
    assert client.get(f"/items/{second}/download.pdf").status_code == 202  # room again


def test_worker_command_and_deploy_files_name_each_other() -> None:
    unit = (Path(ROOT) / "deploy" / "systemd" / "tangthu-worker.service").read_text()
    assert "tangthu worker" in unit and "Restart=" in unit
    compose = (Path(ROOT) / "deploy" / "compose.yaml").read_text()
    assert "worker" in compose and "redis" in compose


def test_tangthu_serve_runs_a_worker_beside_the_two_apps(app: Flask, tmp_path: Path) -> None:
    """What `make demo` runs: a job put on the queue is done while `tangthu serve` runs."""
    import signal
    import time
    import urllib.request

    from repository.jobs import submit
    from tests.servers import free_port

    web, images = free_port(), free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        serve = subprocess.Popen(
            [sys.executable, "-m", "repository.cli", "serve"]
            + ["--port", str(web), "--image-port", str(images)],
            env=worker_env(app),
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{web}/health", timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.2)
            with app.app_context():
                job_id = submit("reindex").id
            while jobs(app)[0].status != "done":
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        finally:
            serve.send_signal(signal.SIGINT)
            try:
                serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)  # the group this test started
                serve.wait()
    assert jobs(app)[0].id == job_id
    assert "and a worker (1 at once)" in log.read_text()


def test_an_items_uploads_run_in_upload_order_even_if_a_message_comes_first(
    app: Flask, runner: FlaskCliRunner, make_pages: Any
) -> None:
    from repository.jobs import send_job, submit
    from repository.models import UploadTask

    runner.invoke(args=["ingest", str(make_pages(count=1, name="first")), "--collection", "c"])
    [(item_id, _)] = items(app)
    staged = make_pages(count=2, width=500, height=400, name="staged")
    with app.app_context():
        tasks = [
            UploadTask(item_id=item_id, staged_path=str(staged / name), filename=name)
            for name in ("a.jpg", "b.jpg")
        ]
        (staged / "1.jpg").rename(staged / "a.jpg")
        (staged / "2.jpg").rename(staged / "b.jpg")
        db.session.add_all(tasks)
        db.session.commit()
        first, second = (
            submit("upload", {"task": t.id}, item_id=item_id, send=False) for t in tasks
        )
        first_id = first.id
        send_job(second.id)  # say the later upload's message comes first (a resend)
    run_worker(app)
    assert [(j.kind, j.status) for j in jobs(app)] == [("upload", "queued")] * 2
    assert items(app) == [(item_id, 1)]  # the later upload waited for the earlier one
    with app.app_context():
        send_job(first_id)
    run_worker(app)  # the earlier one, then (it sends it) the later one
    assert [j.status for j in jobs(app)] == ["done", "done"]
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert [image.label for image in item.images][1:] == ["a", "b"]
