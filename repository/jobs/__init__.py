"""The job queue: long work that the web app or the CLI starts runs in `tangthu worker`.

Huey carries the messages: a SQLite file in the instance folder by default (no extra
server), Redis for scale-out (``QUEUE_URL=redis://...``). Huey takes a message off the
queue before running it, so a worker killed mid-task would lose it; that is why the
``Job`` row, not the message, is the truth. A worker claims a job by moving its row from
'queued' to 'running' (a second message for the same job finds it taken and does
nothing), and ``recover`` queues again every running job whose process has died. Every
job kind is idempotent, so a job that runs again after a crash leaves one result.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import update

from ..extensions import db
from ..models import Job, utcnow
from ..services.pending import owner as process_owner
from ..services.pending import pid_alive
from ..settings import settings_of

log = logging.getLogger(__name__)

EXTENSION = "tangthu.queue"
DEAD_AFTER = timedelta(minutes=10)  # a running job on another host whose heartbeat stopped
RESEND_AFTER = timedelta(minutes=30)  # a queued job whose message may have been lost
MAX_ATTEMPTS = 3  # runs interrupted by a dead worker before the job is failed
FINISHED = ("done", "failed")


@dataclass
class Queue:
    """The app's queue: Huey's instance (opened at first use, so that making an app never
    writes to the instance folder), its one registered task, and the embedded worker."""

    app: Flask
    url: str
    embedded: bool
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)  # the embedded thread
    opening: threading.Lock = field(default_factory=threading.Lock)
    _huey: Any = None
    _task: Any = None

    @property
    def huey(self) -> Any:
        with self.opening:
            if self._huey is None:
                self._huey = make_huey(self.url, Path(self.app.instance_path))
                self._task = self._huey.task(name="tangthu.run_job")(self._run_job)
            return self._huey

    def send(self, job_id: int) -> None:
        self.huey  # noqa: B018 - opens Huey and registers the task
        self._task(job_id)

    def _run_job(self, job_id: int) -> None:
        from .runner import run

        with self.app.app_context():
            run(job_id)


def make_huey(url: str, instance: Path) -> Any:
    """Huey over SQLite (``sqlite:///path``, default the instance's queue.sqlite) or Redis."""
    from huey import RedisHuey, SqliteHuey

    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("tangthu", url=url, results=False)
    path = url.removeprefix("sqlite:///") if url else str(instance / "queue.sqlite")
    return SqliteHuey("tangthu", filename=path, results=False, timeout=30)


def init_queue(app: Flask) -> None:
    """Set up the job queue (opened at first use).

    Reads QUEUE_URL (empty: ``queue.sqlite`` in the instance folder; or redis://) and
    QUEUE_EMBEDDED_WORKER (a worker thread inside this process, for tests: default on
    when TESTING, off otherwise, where `tangthu worker` runs the jobs).
    """
    settings = settings_of(app)
    embedded = settings.queue_embedded_worker
    if embedded is None:
        embedded = bool(app.config.get("TESTING"))
    app.extensions[EXTENSION] = Queue(app, settings.queue_url, embedded)


def queue_of(app: Flask | None = None) -> Queue:
    queue: Queue = (app or current_app).extensions[EXTENSION]
    return queue


def submit(
    kind: str, params: dict[str, Any] | None = None, item_id: str | None = None, send: bool = True
) -> Job:
    """Record a job and put it on the queue; ``send=False`` leaves it waiting its turn."""
    job = Job(kind=kind, params=params or {}, item_id=item_id)
    db.session.add(job)
    db.session.commit()
    if send:
        send_job(job.id)
    return job


def send_job(job_id: int) -> None:
    """Put a message for the job on the queue; a lost message is sent again by recover."""
    queue = queue_of()
    try:
        queue.send(job_id)
    except Exception:  # the queue is down: the job waits in its row for recover
        log.exception("could not put job %s on the queue", job_id)
        return
    if queue.embedded:
        start_embedded_worker(queue)


def retry(job: Job) -> bool:
    """Queue a failed job again, from the start; False if it has not failed."""
    claimed = db.session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == "failed")
        .values(status="queued", message="", done=0, attempts=0, enqueued_at=utcnow())
    )
    db.session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    send_job(job.id)
    return True


def owner_is_dead(job: Job) -> bool:
    """Whether the process that runs this job can no longer finish it."""
    host, _, pid = job.owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return not pid_alive(int(pid))
    beat = job.heartbeat_at or job.started_at or job.created_at
    return utcnow() - beat > DEAD_AFTER


def recover() -> int:
    """Queue again the jobs whose worker died, and resend long-queued messages."""
    from .runner import interrupted

    now = utcnow()
    running = db.session.execute(db.select(Job).filter_by(status="running")).scalars().all()
    again: list[int] = []
    for job in running:
        if not owner_is_dead(job):
            continue
        interrupted(job)
        if job.attempts >= MAX_ATTEMPTS:
            job.status, job.finished_at = "failed", now
            job.message = f"its worker stopped {job.attempts} times; see the workers' logs"
        else:
            job.status, job.owner, job.enqueued_at = "queued", "", now
            again.append(job.id)
        log.warning("job %s (%s) was interrupted: %s", job.id, job.kind, job.status)
    stale = db.session.execute(
        db.select(Job).where(Job.status == "queued", Job.enqueued_at < now - RESEND_AFTER)
    ).scalars()
    for job in stale:
        job.enqueued_at = now
        again.append(job.id)
    db.session.commit()
    for job_id in again:
        send_job(job_id)
    return len(again)


def start_embedded_worker(queue: Queue) -> None:
    """A thread that takes jobs off the real queue until it has been idle for a while."""
    with queue.lock:
        if queue.thread is not None:
            return
        queue.thread = threading.Thread(
            target=_consume, args=(queue,), name="queue-worker", daemon=True
        )
        queue.thread.start()


def _consume(queue: Queue, idle: float = 3.0) -> None:
    last = time.monotonic()
    while True:
        try:
            task = queue.huey.dequeue()
            if task is None and time.monotonic() - last > idle:
                with queue.lock:  # a job sent now finds no thread, and starts one
                    if queue.huey.pending_count() == 0:
                        queue.thread = None
                        return
        except Exception:  # the instance is gone (its test ended): stop
            log.debug("embedded worker stopped", exc_info=True)
            with queue.lock:
                queue.thread = None
            return
        if task is None:
            time.sleep(0.05)
            continue
        queue.huey.execute(task)
        last = time.monotonic()


def this_process() -> str:
    return process_owner()
