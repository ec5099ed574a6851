"""The kinds of job a worker runs (repository.jobs): uploads, ingests, OCR, republishing,
reindexing, harvests, spreadsheet imports and PDFs. Each is idempotent: run again after a
crash, it leaves one result, never two and never half."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import update

from .extensions import db
from .jobs import send_job, submit
from .jobs.runner import Deferred, Progress
from .models import HarvestSource, Image, Item, Job, PageText, UploadTask, utcnow
from .search import SearchDocument
from .services.errors import Refused, ServiceError
from .services.ingest import ItemDraft, add_pages, ingest_item
from .services.ocr import STALE, OcrSettings, process, queue_pages, waiting
from .services.page_files import PageFile, sha256_file
from .settings import settings_of

log = logging.getLogger(__name__)

Handler = Callable[[Job, Progress], str]


def submit_upload(task: UploadTask) -> Job:
    """Queue an uploaded file; an item's uploads run one at a time, in upload order."""
    earlier = db.session.execute(
        db.select(db.func.count())
        .select_from(Job)
        .where(
            Job.kind == "upload", Job.item_id == task.item_id, Job.status.in_(("queued", "running"))
        )
    ).scalar_one()
    return submit("upload", {"task": task.id}, item_id=task.item_id, send=earlier == 0)


def _upload(job: Job, progress: Progress) -> str:
    from . import get_storage
    from .web import ingest_settings

    earlier = db.session.execute(
        db.select(Job.id).where(
            Job.kind == "upload",
            Job.item_id == job.item_id,
            Job.id < job.id,
            Job.status.in_(("queued", "running")),
        )
    ).scalar()
    if earlier is not None:  # pages keep upload order: this one waits its turn
        raise Deferred(earlier)
    task = db.session.get(UploadTask, job.params["task"])
    item = db.session.get(Item, task.item_id) if task else None
    if task is None or item is None:
        return "the item or its upload is gone"
    if task.status in ("done", "failed"):
        return task.message
    staged = Path(task.staged_path)
    progress(0, 1, force=True)
    if job.attempts > 1 and staged.exists():  # a run died: were its pages committed?
        checksum = sha256_file(staged)
        already = [image for image in item.images if image.sha256 == checksum]
        if already:
            return _upload_done(task, item, already, staged)
    task.status = "processing"
    db.session.commit()
    try:
        images = add_pages(
            item, (PageFile(staged, task.filename),), get_storage(), ingest_settings()
        )
    except ServiceError as exc:
        _upload_failed(task.id, "; ".join(exc.reasons), staged)
        raise
    except Exception:
        _upload_failed(task.id, "could not be processed; see the log", staged)
        raise
    return _upload_done(task, item, images, staged)


def _upload_done(task: UploadTask, item: Item, images: list[Image], staged: Path) -> str:
    task.status, task.pages, task.finished_at = "done", len(images), utcnow()
    queued = queue_pages(item, images)
    db.session.commit()
    staged.unlink(missing_ok=True)
    if queued:
        submit_ocr()
    return f"{task.filename}: {len(images)} pages"


def _upload_failed(task_id: int, message: str, staged: Path) -> None:
    db.session.rollback()
    task = db.session.get(UploadTask, task_id)
    assert task is not None
    task.status, task.message, task.finished_at = "failed", message, utcnow()
    db.session.commit()
    staged.unlink(missing_ok=True)


def _next_upload(job: Job) -> None:
    """Send the item's next waiting upload, now that this one has finished."""
    following = db.session.execute(
        db.select(Job.id)
        .where(Job.kind == "upload", Job.item_id == job.item_id, Job.status == "queued")
        .order_by(Job.id)
    ).scalar()
    if following is not None:
        send_job(following)


class _IngestProgress:
    """services.ingest's progress protocol, onto the job's progress bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.done = progress, 0

    def start(self, pages: int) -> None:
        self.progress(0, pages, force=True)

    def advance(self, label: str) -> None:
        self.done += 1
        self.progress(self.done)


def _ingest(job: Job, progress: Progress) -> str:
    """One item from files on a shared disk (`tangthu ingest --queue`)."""
    from . import get_storage
    from .web import ingest_settings

    params = job.params
    draft = ItemDraft(
        params["collection"],
        dict(params["title"]),
        tuple(PageFile(Path(path), name) for path, name in params["pages"]),
        viewing_direction=params.get("direction", "left-to-right"),
    )
    result = ingest_item(draft, get_storage(), ingest_settings(), _IngestProgress(progress))
    item = result.item
    db.session.execute(update(Job).where(Job.id == job.id).values(item_id=item.id))
    if result.created and queue_pages(item):
        db.session.commit()
        submit_ocr()
    db.session.commit()
    if params.get("publish") and item.status != "published":
        refresh_item(item, always=True)
    verb = "ingested" if result.created else "already ingested"
    return f"{verb} item {item.id} ({len(item.images)} pages)"


def submit_ocr() -> Job | None:
    """Queue a run over the pages waiting for OCR, unless one is already waiting."""
    if db.session.execute(db.select(Job.id).filter_by(kind="ocr", status="queued")).scalar():
        return None
    return submit("ocr")


def _ocr(job: Job, progress: Progress) -> str:
    from . import get_storage

    # Pages an in-place `tangthu ocr` left 'processing' when it died, as claim_next does.
    db.session.execute(
        update(PageText)
        .where(PageText.status == "processing", PageText.updated_at < utcnow() - STALE)
        .values(status="queued")
    )
    db.session.commit()
    total = db.session.execute(
        db.select(db.func.count()).select_from(PageText).filter_by(status="queued")
    ).scalar_one()
    progress(0, total, force=True)
    storage, settings = get_storage(), ocr_settings(current_app)
    read = failed = 0
    while True:
        page = _claim_page(job.id)
        if page is None:
            break
        process(page, storage, settings)
        read += 1
        failed += page.status == "failed"
        progress(read, max(total, read))
        if waiting(page.item_id) == 0:
            item = db.session.get(Item, page.item_id)
            if item is not None:
                refresh_item(item)
    return f"read {read - failed} pages; {failed} failed"


def _claim_page(job_id: int) -> PageText | None:
    """Take one queued page, and record it as the job's in the same commit, so that a
    worker killed at any moment leaves no page claimed that recover cannot give back."""
    while True:
        candidate = db.session.execute(
            db.select(PageText.image_id).filter_by(status="queued").order_by(PageText.updated_at)
        ).scalar()
        if candidate is None:
            return None
        claimed = db.session.execute(
            update(PageText)
            .where(PageText.image_id == candidate, PageText.status == "queued")
            .values(status="processing", updated_at=utcnow())
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            db.session.execute(
                update(Job).where(Job.id == job_id).values(cursor=candidate, heartbeat_at=utcnow())
            )
            db.session.commit()
            return db.session.get(PageText, candidate)
        db.session.rollback()


def _ocr_interrupted(job: Job) -> None:
    """The page a dead OCR run held goes back to the queue."""
    if job.cursor:
        db.session.execute(
            update(PageText)
            .where(PageText.image_id == job.cursor, PageText.status == "processing")
            .values(status="queued")
        )


def _publish_all(job: Job, progress: Progress) -> str:
    from . import get_storage
    from .services.publish import mark_base, publish_item
    from .web import public_urls, publish_settings

    ids = list(db.session.execute(db.select(Item.id).filter_by(status="published")).scalars())
    progress(0, len(ids), force=True)
    settings = publish_settings()
    for number, item_id in enumerate(ids, start=1):
        item = db.session.get(Item, item_id)
        if item is not None and item.status == "published":
            publish_item(item, get_storage(), settings)
        progress(number)
        db.session.expunge_all()
    mark_base(get_storage(), public_urls())
    return f"republished {len(ids)} items"


def _reindex(job: Job, progress: Progress) -> str:
    from .services.publish import published_ids, search_batches
    from .web import get_search

    ids = published_ids()
    progress(0, len(ids), force=True)
    done = 0

    def counted() -> Iterator[list[SearchDocument]]:
        nonlocal done
        for batch in search_batches(ids):
            yield batch
            done += len(batch)
            progress(done)
            db.session.expunge_all()

    count = get_search().rebuild(counted())
    return f"indexed {count} items"


def _harvest(job: Job, progress: Progress) -> str:
    """Every enabled source, each failure a line of the result; or, with ``source_id``,
    that one source, whose refusal or failure is the job's."""
    from .services.harvest import described, enabled_sources, harvestable

    source_id = job.params.get("source_id")
    if source_id is not None:
        source = harvestable(int(source_id))  # NotFound or Refused: the job fails with it
        progress(0, 1, force=True)
        try:
            return _harvest_one(source, bool(job.params.get("full")))
        except ServiceError as exc:
            raise Refused(f"{source.url}: {described(exc)}", code=exc.code) from exc
    sources = enabled_sources()
    disabled = db.session.execute(
        db.select(db.func.count()).select_from(HarvestSource).filter_by(enabled=False)
    ).scalar_one()
    progress(0, len(sources), force=True)
    lines = []
    for number, source in enumerate(sources, start=1):
        try:
            lines.append(_harvest_one(source, bool(job.params.get("full"))))
        except ServiceError as exc:
            lines.append(f"{source.url}: " + "; ".join(exc.reasons))
        progress(number)
    if disabled:
        lines.append(f"{disabled} disabled sources left out")
    return "\n".join(lines)


def _harvest_one(source: HarvestSource, full: bool) -> str:
    import requests

    from . import get_storage
    from .cli.interop import _limits
    from .services.harvest import harvest
    from .web import publish_settings

    with requests.Session() as session:
        result = harvest(
            source,
            get_storage(),
            publish_settings(),
            session=session,
            full=full,
            limits=_limits(),
        )
    return f"{source.url}: {result.created} created, {result.updated} updated"


def _import(job: Job, progress: Progress) -> str:
    """An open-data CSV the admin previewed (admin.imports): every row in one transaction,
    or none. The job marks itself imported in that same transaction, and its file is
    removed when it ends: run again after a crash, or retried, it never imports twice."""
    import shutil

    from . import get_storage
    from .models import Collection
    from .services.audit import record
    from .services.union.opendata_csv import BadRows, import_csv, staged_folder
    from .web import publish_settings

    params = dict(job.params)
    if params.get("imported"):
        return "imported already, by an earlier run of this task"
    folder = staged_folder(Path(current_app.instance_path), str(params.get("token", "")))
    files = sorted(folder.glob("*.csv")) if folder is not None and folder.is_dir() else []
    if folder is None or not files:
        raise Refused("the uploaded file is gone (imported, or expired): upload it again")
    try:
        collection = db.session.get(Collection, int(params.get("collection", 0)))
        if collection is None:
            raise Refused("the collection to import into no longer exists")
        publish = bool(params.get("publish"))
        result = import_csv(
            files[0],
            collection,
            str(params.get("institution", ""))[:255],
            publish,
            storage=get_storage() if publish else None,
            settings=publish_settings() if publish else None,
            progress=_ImportProgress(progress),
            within=lambda: _mark_imported(job.id, params),
        )
    except BadRows as bad:  # the task's message: the headline, then each row
        raise Refused(bad.message, (bad.message, *bad.reasons)) from bad
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    detail = f"{files[0].name}: {result.created} new, {result.updated} updated (job {job.id})"
    record("import", str(params.get("by", "")), collection.slug, detail, params.get("address"))
    return (
        f"{files[0].name}: {result.created} new, {result.updated} updated,"
        f" {result.published} published"
    )


def _mark_imported(job_id: int, params: dict[str, object]) -> None:
    """In the import's transaction: committed with its rows, or rolled back with them."""
    db.session.execute(
        update(Job).where(Job.id == job_id).values(params={**params, "imported": True})
    )


class _ImportProgress:
    """An import's phases (read, then publish each record) onto the job's progress bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.published = progress, 0

    def __call__(self, phase: str, count: int) -> None:
        if phase == "read":
            self.progress(0, count, force=True)
        else:
            self.published += count
            self.progress(self.published)


def _pdf(job: Job, progress: Progress) -> str:
    from . import get_storage
    from .services.downloads import build_pdf

    item = db.session.get(Item, job.item_id)
    if item is None:
        return "the item is gone"
    build_pdf(item, get_storage(), lambda done, total: progress(done, total))
    return f"{len(item.images)} pages"


HANDLERS: dict[str, Handler] = {
    "upload": _upload,
    "ingest": _ingest,
    "ocr": _ocr,
    "publish_all": _publish_all,
    "reindex": _reindex,
    "harvest": _harvest,
    "import": _import,
    "pdf": _pdf,
}
AFTER: dict[str, Callable[[Job], None]] = {"upload": _next_upload}
INTERRUPTED: dict[str, Callable[[Job], None]] = {"ocr": _ocr_interrupted}


def ocr_settings(app: Flask) -> OcrSettings:
    settings = settings_of(app)
    return OcrSettings(settings.ocr_max_edge, settings.ocr_timeout)


def refresh_item(item: Item, always: bool = False) -> None:
    """An item whose text has been read: republish it, so its manifest and search entry
    carry the text (drafts get it when they are published)."""
    from . import get_storage
    from .services.publish import publish_item
    from .web import publish_settings

    if always or item.status == "published":
        publish_item(item, get_storage(), publish_settings())


class OcrWorker:
    """What the admin wakes after queueing pages: a job that reads them, in a worker."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def wake(self) -> Job | None:
        return submit_ocr()


def ocr_worker(app: Flask) -> OcrWorker:
    return OcrWorker(app)


def fail_orphaned_tasks(item_id: str) -> None:
    """Tasks whose file vanished will never finish: say so."""
    waiting_tasks = db.session.execute(
        db.select(UploadTask).where(
            UploadTask.item_id == item_id, UploadTask.status.in_(("queued", "processing"))
        )
    ).scalars()
    changed = False
    for task in waiting_tasks:
        if not Path(task.staged_path).exists():
            task.status, task.message = "failed", "interrupted; please upload this file again"
            task.finished_at = utcnow()
            changed = True
    if changed:
        db.session.commit()
