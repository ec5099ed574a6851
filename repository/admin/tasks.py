"""The job queue as curators see it: each task's state and progress, and a retry."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from ..extensions import db
from ..jobs import retry
from ..models import Job
from .blueprint import bp

STATES = {
    "queued": _l("Queued"),
    "running": _l("Running"),
    "done": _l("Done"),
    "failed": _l("Failed"),
}
KINDS = {
    "upload": _l("Uploaded file"),
    "ingest": _l("Ingest"),
    "ocr": _l("Text recognition"),
    "publish_all": _l("Republish all"),
    "reindex": _l("Rebuild the search index"),
    "harvest": _l("Harvest"),
    "pdf": _l("PDF download"),
    "import": _l("Spreadsheet import"),
}
SHOWN = 100


def job_json(job: Job) -> dict[str, object]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "message": job.message,
        "item_id": job.item_id,
        "attempts": job.attempts,
    }


@bp.get("/tasks")
def tasks() -> str | Response:
    """The newest tasks, optionally of one state; JSON for scripts and live updates."""
    query = db.select(Job).order_by(Job.id.desc()).limit(SHOWN)
    state = request.args.get("status", "")
    if state in STATES:
        query = query.filter_by(status=state)
    jobs = db.session.execute(query).scalars().all()
    if request.accept_mimetypes.best == "application/json":
        return jsonify(tasks=[job_json(job) for job in jobs])
    return render_template("admin/tasks.html", jobs=jobs, states=STATES, kinds=KINDS, chosen=state)


@bp.post("/tasks/<int:job_id>/retry")
def retry_task(job_id: int) -> Response:
    """Queue a failed task again from the start (every kind of task may run twice)."""
    job = db.get_or_404(Job, job_id)
    if retry(job):
        flash(_l("The task is queued again."))
    else:
        flash(_l("Only a failed task can be retried."))
    return redirect(url_for("admin.tasks"))
