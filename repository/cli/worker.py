"""`tangthu worker` runs the jobs on the queue; `tangthu jobs` lists them."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from tqdm import tqdm

from ..extensions import db, ensure_database
from ..models import Job

SWEEP_SECONDS = 15.0  # how often a worker looks for jobs whose worker died


@click.command("worker")
@click.option("--workers", "-w", default=1, show_default=True, help="Jobs run at once.")
@click.option(
    "--processes/--threads",
    default=True,
    show_default=True,
    help="Run jobs in child processes (CPU-bound work) or threads.",
)
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@with_appcontext
def worker(workers: int, processes: bool, burst: bool) -> None:
    """Take jobs off the queue and run them until stopped (SIGTERM lets running jobs end)."""
    from ..jobs import queue_of, recover

    ensure_database()
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    for name in ("huey", "repository"):
        logging.getLogger(name).setLevel(logging.INFO)
    recover()
    queue = queue_of(app)
    if burst:
        ran = run_until_empty(queue.huey)
        click.echo(f"ran {ran} jobs")
        return
    threading.Thread(target=_sweep, args=(app,), name="queue-sweep", daemon=True).start()
    db.engine.dispose()  # child processes open their own connections

    def fresh_connections() -> None:
        with app.app_context():
            db.engine.dispose(close=False)

    queue.huey.on_startup()(fresh_connections)

    consumer = queue.huey.create_consumer(
        workers=workers,
        worker_type="process" if processes and workers > 1 else "thread",
        periodic=False,
        initial_delay=0.05,
        backoff=1.5,
        max_delay=1.0,
    )
    click.echo(f"worker: {workers} at once, on {type(queue.huey).__name__}", err=True)
    consumer.run()


def run_until_empty(huey: Any) -> int:
    ran = 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
        ran += 1
    return ran


def _sweep(app: Flask) -> None:
    from ..jobs import recover

    while True:
        time.sleep(SWEEP_SECONDS)
        try:
            with app.app_context():
                recover()
        except Exception:  # the database may be away for a moment: try again later
            logging.getLogger(__name__).exception("could not look for interrupted jobs")


@click.command("jobs")
@click.option("--limit", default=20, show_default=True)
@with_appcontext
def jobs(limit: int) -> None:
    """The newest jobs on the queue, with their state and progress."""
    ensure_database()
    newest = db.session.execute(db.select(Job).order_by(Job.id.desc()).limit(limit)).scalars()
    for job in newest:
        progress = f" {job.done}/{job.total}" if job.total else ""
        click.echo(f"{job.id}\t{job.kind}\t{job.status}{progress}\t{job.message}")


def follow(job_id: int, unit: str) -> Job:
    """Show a queued job's progress bar until it ends, as the command in place would."""
    with tqdm(desc=unit, unit=unit, file=sys.stderr, disable=None) as bar:
        while True:
            db.session.expire_all()
            job = db.session.get(Job, job_id)
            assert job is not None
            bar.total = job.total or None
            bar.n = job.done
            bar.refresh()
            if job.status in ("done", "failed"):
                return job
            time.sleep(0.5)


def queued(kind: str, params: dict[str, Any] | None = None, wait: bool = False) -> None:
    """Put a command's work on the queue; with ``wait``, follow it to its end."""
    from ..jobs import submit

    job = submit(kind, params)
    click.echo(f"queued job {job.id} ({kind}): `tangthu worker` runs it")
    if wait:
        job = follow(job.id, kind)
        click.echo(f"job {job.id}: {job.status}: {job.message}")
        if job.status == "failed":
            sys.exit(1)


COMMANDS = (worker, jobs)
