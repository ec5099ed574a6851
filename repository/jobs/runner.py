"""Running one job in a worker: claim its row, run its kind's handler, record the end."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import update

from ..extensions import db
from ..models import Job, utcnow
from ..services.errors import ServiceError
from . import this_process

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """A job's progress bar and heartbeat, written on a connection of its own so that it
    never commits the handler's unfinished work."""

    job_id: int
    every: float = 0.5  # seconds between writes
    last: float = 0.0

    def __call__(self, done: int, total: int | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        values: dict[str, object] = {"done": done, "heartbeat_at": utcnow()}
        if total is not None:
            values["total"] = total
        self._write(values)

    def _write(self, values: dict[str, object]) -> None:
        try:
            with db.engine.begin() as connection:
                connection.execute(update(Job).where(Job.id == self.job_id).values(**values))
        except Exception:  # progress is for people; the work goes on without it
            log.warning("could not record the progress of job %s", self.job_id, exc_info=True)


def claim(job_id: int) -> Job | None:
    """Take a queued job for this process; None if another took it or it is finished."""
    now = utcnow()
    claimed = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(
            status="running",
            owner=this_process(),
            attempts=Job.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            message="",
        )
    )
    db.session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return db.session.get(Job, job_id)


def finish(job_id: int, status: str, message: str) -> None:
    values: dict[str, object] = {
        "status": status,
        "message": message[:2000],
        "finished_at": utcnow(),
        "cursor": "",
    }
    db.session.execute(update(Job).where(Job.id == job_id).values(**values))
    if status == "done":
        db.session.execute(
            update(Job).where(Job.id == job_id, Job.total > 0).values(done=Job.total)
        )
    db.session.commit()


class Deferred(Exception):  # noqa: N818 - not an error: the job's turn has not come
    """Raised by a handler whose job must wait for another (an item's earlier upload): the
    job goes back to 'queued' without a message, and the other sends it when it ends."""


def run(job_id: int) -> None:
    """Run one job, if it is still queued; its handler's refusal is its failure reason."""
    from ..tasks import AFTER, HANDLERS

    job = claim(job_id)
    if job is None:
        return
    kind = job.kind
    handler = HANDLERS.get(kind)
    try:
        if handler is None:
            raise LookupError(f"no handler for jobs of kind {kind!r}")
        message = handler(job, Progress(job_id))
    except Deferred:
        db.session.rollback()
        db.session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status="queued", owner="", attempts=Job.attempts - 1, enqueued_at=utcnow())
        )
        db.session.commit()
        return
    except ServiceError as exc:
        db.session.rollback()
        finish(job_id, "failed", "; ".join(exc.reasons))
    except Exception:  # logged in full; curators see a plain reason, never a trace
        log.exception("job %s (%s) failed", job_id, kind)
        db.session.rollback()
        finish(job_id, "failed", "could not be done; the worker's log says why")
    else:
        finish(job_id, "done", message)
    after = AFTER.get(kind)
    if after is not None:
        job = db.session.get(Job, job_id)
        if job is not None:
            after(job)


def interrupted(job: Job) -> None:
    """Undo what a dead run of the job held (its kind knows what), before it runs again."""
    from ..tasks import INTERRUPTED

    undo = INTERRUPTED.get(job.kind)
    if undo is not None:
        undo(job)
    job.cursor = ""
