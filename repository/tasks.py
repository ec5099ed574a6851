"""Background work: uploaded files, one at a time per process in upload order; then OCR."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from flask import Flask

from .extensions import db
from .models import Item, UploadTask, utcnow
from .services.errors import ServiceError
from .services.ingest import add_pages
from .services.ocr import OcrSettings, drain, queue_pages
from .services.page_files import PageFile
from .settings import settings_of

log = logging.getLogger(__name__)


class UploadQueue:
    """Runs upload tasks on one worker thread, so pages keep the order they came in."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload")

    def submit(self, task_id: int) -> Future[None]:
        return self.executor.submit(self._run, task_id)

    def _run(self, task_id: int) -> None:
        from . import get_storage
        from .web import ingest_settings

        with self.app.app_context():
            task = db.session.get(UploadTask, task_id)
            item = db.session.get(Item, task.item_id) if task else None
            if task is None or item is None:
                return
            task.status = "processing"
            db.session.commit()
            staged = Path(task.staged_path)
            try:
                images = add_pages(
                    item, (PageFile(staged, task.filename),), get_storage(), ingest_settings()
                )
            except ServiceError as exc:
                task.status, task.message = "failed", "; ".join(exc.reasons)
            except Exception:  # logged; the curator sees a plain message, never a trace
                log.exception("processing upload %s failed", task_id)
                db.session.rollback()
                task = db.session.get(UploadTask, task_id)
                assert task is not None
                task.status, task.message = "failed", "could not be processed; see the log"
            else:
                task.status, task.pages = "done", len(images)
                queued = queue_pages(item, images)
            task.finished_at = utcnow()
            db.session.commit()
            staged.unlink(missing_ok=True)
            if task.status == "done" and queued:
                ocr_worker(self.app).wake()


def upload_queue(app: Flask) -> UploadQueue:
    queue = app.extensions.get("tangthu.uploads")
    if queue is None:
        queue = app.extensions["tangthu.uploads"] = UploadQueue(app)
    return queue


class OcrWorker:
    """Reads queued pages on one background thread; wake() after queueing more."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr")
        self.lock = threading.Lock()
        self.pending: Future[int] | None = None

    def wake(self) -> Future[int]:
        with self.lock:
            if self.pending is None or self.pending.done():
                self.pending = self.executor.submit(self._run)
            return self.pending

    def _run(self) -> int:
        from . import get_storage

        with self.app.app_context():
            try:
                return drain(get_storage(), ocr_settings(self.app), refresh_item)
            except Exception:  # a worker thread must not die silently
                log.exception("OCR worker stopped")
                db.session.rollback()
                return 0


def ocr_settings(app: Flask) -> OcrSettings:
    settings = settings_of(app)
    return OcrSettings(settings.ocr_max_edge, settings.ocr_timeout)


def refresh_item(item: Item) -> None:
    """An item whose text has been read: republish it, so its manifest and search entry
    carry the text (drafts get it when they are published)."""
    from . import get_storage
    from .services.publish import publish_item
    from .web import publish_settings

    if item.status == "published":
        publish_item(item, get_storage(), publish_settings())


def ocr_worker(app: Flask) -> OcrWorker:
    worker = app.extensions.get("tangthu.ocr")
    if worker is None:
        worker = app.extensions["tangthu.ocr"] = OcrWorker(app)
    return worker


def fail_orphaned_tasks(item_id: str) -> None:
    """Tasks whose file vanished (their process died) will never finish: say so."""
    waiting = db.session.execute(
        db.select(UploadTask).where(
            UploadTask.item_id == item_id, UploadTask.status.in_(("queued", "processing"))
        )
    ).scalars()
    changed = False
    for task in waiting:
        if not Path(task.staged_path).exists():
            task.status, task.message = "failed", "interrupted; please upload this file again"
            task.finished_at = utcnow()
            changed = True
    if changed:
        db.session.commit()
