"""Crash safety with real processes: a worker killed with SIGKILL in the middle of an
ingest, and in the middle of OCR, on SQLite and on real Redis. The job runs again in the
next worker, and the result is exactly one item with every page (every page read once),
never half and never twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from repository.extensions import db
from repository.models import Image, Item, Job, PageText, PendingObject
from tests.redis_server import redis_service, redis_url  # noqa: F401
from tests.servers import ROOT
from tests.test_queue import app_config, jobs, queue_url, run_worker, worker_command, worker_env

__all__ = ["app_config", "queue_url", "redis_service", "redis_url"]  # fixtures used here


@pytest.fixture
def worker(app: Flask, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `tangthu worker` in a session of its own, so a kill takes all of it."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(started)}.log", "ab")
        process = subprocess.Popen(
            worker_command("--workers", "1"),
            env=worker_env(app),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(app: Flask, ready: Callable[[Job], bool], timeout: float = 180) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [job] = [j for j in jobs(app) if j.kind in ("ingest", "ocr")]
        if ready(job):
            return job
        assert job.status not in ("done", "failed"), f"the job ended first: {job.message}"
        time.sleep(0.05)
    raise AssertionError("the job never got there")


def kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stored(app: Flask, folder: str) -> list[Path]:
    root = Path(app.instance_path) / "storage" / folder
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_worker_killed_mid_ingest_leaves_nothing_then_one_whole_item(
    app: Flask, runner: FlaskCliRunner, make_pages: Any, worker: Any
) -> None:
    folder = make_pages(count=16, width=2600, height=2000)
    queued = runner.invoke(args=["ingest", str(folder), "--collection", "c", "--queue"])
    assert queued.exit_code == 0, queued.output
    process = worker()
    wait_for(app, lambda job: job.status == "running" and 1 <= job.done < 12)
    kill(process)
    [job] = jobs(app)
    assert job.status == "running"  # as the dead worker left it
    with app.app_context():
        assert db.session.execute(db.select(Item)).scalars().all() == []  # nothing half
        assert db.session.execute(db.select(PendingObject)).scalars().all()  # it was mid-way
    run_worker(app)  # the next worker finds the job's worker dead and runs it again
    [job] = jobs(app)
    assert (job.status, job.attempts, job.done, job.total) == ("done", 2, 16, 16), job.message
    with app.app_context():
        [item] = db.session.execute(db.select(Item)).scalars().all()
        assert len(item.images) == 16
        assert [image.label for image in item.images] == [str(n) for n in range(1, 17)]
        assert db.session.execute(db.select(PendingObject)).scalars().all() == []
        pyramids = {Path(image.pyramid_key).name for image in item.images}
        masters = {Path(image.master_key).name for image in item.images}
    # What the killed run had stored is gone: only this item's objects are left.
    assert {p.name for p in stored(app, "pyramids")} == pyramids
    assert {p.name for p in stored(app, "masters")} == masters


def test_a_worker_killed_mid_ocr_reads_every_page_once_when_it_runs_again(
    app: Flask, runner: FlaskCliRunner, make_pages: Any, worker: Any
) -> None:
    folder = make_pages(count=6, width=2400, height=1800)
    result = runner.invoke(args=["ingest", str(folder), "--collection", "c"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        item_id = db.session.execute(db.select(Item.id)).scalar_one()
    queued = runner.invoke(args=["ocr", "--item", item_id, "--languages", "eng", "--queue"])
    assert queued.exit_code == 0, queued.output
    process = worker()
    held = wait_for(app, lambda job: job.status == "running" and job.done >= 2 and job.cursor != "")
    kill(process)
    with app.app_context():
        states = dict(db.session.execute(db.select(PageText.image_id, PageText.status)).all())
    assert 2 <= list(states.values()).count("done") < 6  # killed mid-way
    assert held.cursor in states
    run_worker(app)
    [job] = jobs(app)
    assert (job.status, job.attempts, job.cursor) == ("done", 2, ""), job.message
    with app.app_context():
        pages = db.session.execute(db.select(PageText)).scalars().all()
        images = db.session.execute(db.select(Image.id)).scalars().all()
        assert sorted(p.image_id for p in pages) == sorted(images)
        assert {p.status for p in pages} == {"done"}
        altos = {Path(p.alto_key).name for p in pages}
    assert {p.name for p in stored(app, "ocr")} == altos and len(altos) == 6


def test_an_upload_whose_worker_died_after_its_pages_were_committed_adds_them_once(
    app: Flask, runner: FlaskCliRunner, make_pages: Any
) -> None:
    """The narrowest window: pages committed, the task not yet marked done. The state a
    kill there leaves is made by hand (no timing can aim at it); the rerun is real."""
    import shutil

    from repository.models import UploadTask
    from repository.services.pending import owner
    from repository.tasks import submit_upload

    runner.invoke(args=["ingest", str(make_pages(count=1, name="first")), "--collection", "c"])
    with app.app_context():
        item_id = db.session.execute(db.select(Item.id)).scalar_one()
    page = make_pages(count=1, width=900, height=700, name="upload") / "1.jpg"
    staged = Path(app.instance_path) / "staged-upload"
    shutil.copyfile(page, staged)
    with app.app_context():
        task = UploadTask(item_id=item_id, staged_path=str(staged), filename="2.jpg")
        db.session.add(task)
        db.session.commit()
        job_id = submit_upload(task).id
    run_worker(app)
    shutil.copyfile(page, staged)  # as it was before the "kill"
    dead = subprocess.Popen(["true"])
    dead.wait()
    with app.app_context():
        db.session.execute(
            db.update(Job)
            .where(Job.id == job_id)
            .values(status="running", owner=f"{owner().rpartition(':')[0]}:{dead.pid}")
        )
        db.session.execute(db.update(UploadTask).values(status="processing", pages=0))
        db.session.commit()
    run_worker(app)  # recover, then the job runs again
    [job] = jobs(app)
    assert (job.status, job.attempts) == ("done", 2)
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert len(item.images) == 2  # not 3
        task = db.session.execute(db.select(UploadTask)).scalar_one()
        assert (task.status, task.pages) == ("done", 1)
    assert not staged.exists()
