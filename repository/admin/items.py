"""Items in the admin: create one, then upload its pages with per-file progress."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import replace
from pathlib import Path

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response
from wtforms.fields import SelectChoice

from .. import get_storage
from ..extensions import db
from ..models import Collection, Item, UploadTask
from ..services.errors import ServiceError
from ..services.ingest import ItemDraft, draft_item, ingest_item
from ..services.page_files import PageFile, natural_order
from ..services.pending import staging_folder
from ..tasks import fail_orphaned_tasks, submit_upload
from ..web import ingest_settings
from .blueprint import bp
from .forms import ItemForm, UploadForm


def clean_filename(name: str | None, fallback: str) -> str:
    """What the curator called the file, made safe to show and store (never used as a path)."""
    name = unicodedata.normalize("NFC", Path(name or fallback).name)
    return re.sub(r"[\x00-\x1f/\\]", "", name)[:255] or fallback


def _save_uploads(files: list[FileStorage], folder: Path) -> tuple[PageFile, ...]:
    """Write uploads under generated names; keep what the curator called them."""
    pages = []
    for number, upload in enumerate(files, start=1):
        path = folder / f"upload-{number:05d}"
        upload.save(path)
        pages.append(PageFile(path, clean_filename(upload.filename, str(number))))
    return tuple(pages)


def _uploads(files: list[FileStorage]) -> list[FileStorage]:
    return [f for f in files if isinstance(f, FileStorage) and f.filename]


@bp.route("/items/new", methods=["GET", "POST"])
def new_item() -> str | Response:
    """Create an item: with files it is ingested at once, without it waits for uploads."""
    form = ItemForm()
    collections = db.session.execute(db.select(Collection).order_by(Collection.slug)).scalars()
    form.collection.choices = [
        SelectChoice(c.slug, c.title.get("vi") or c.slug) for c in collections
    ]
    if not form.validate_on_submit():
        return render_template("admin/item_form.html", form=form)
    draft = ItemDraft(
        collection_slug=form.collection.data,
        title={"vi": form.title_vi.data or "", "en": form.title_en.data or ""},
        pages=(),
        viewing_direction=form.viewing_direction.data,
    )
    files = _uploads(form.pages.data or [])
    if not files:
        collection = db.session.execute(
            db.select(Collection).filter_by(slug=draft.collection_slug)
        ).scalar_one()
        item = draft_item(draft, collection)
        db.session.add(item)
        db.session.commit()
        return redirect(url_for("admin.pages", item_id=item.id))
    settings = ingest_settings()
    with staging_folder(settings.staging_dir, "upload") as tmp:
        pages = natural_order(_save_uploads(files, Path(tmp)))
        try:
            result = ingest_item(replace(draft, pages=pages), get_storage(), settings)
        except ServiceError as exc:
            form.pages.errors = list(exc.reasons)
            return render_template("admin/item_form.html", form=form)
    if result.created:
        flash(_("Item created with %(count)d pages.", count=len(result.item.images)))
    else:
        flash(_("These files were already ingested as an item."))
    return redirect(url_for("admin.pages", item_id=result.item.id))


def _queue_folder() -> Path:
    """The folder of uploads waiting for a worker: it outlives the web process that
    received them (its name has no pid, so cleanup leaves it alone)."""
    folder = ingest_settings().staging_dir / "queued_uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@bp.route("/items/<item_id>/pages", methods=["GET", "POST"])
def pages(item_id: str) -> str | Response:
    """The item's pages, and an upload form whose files are processed in the background."""
    item = db.get_or_404(Item, item_id)
    form = UploadForm()
    if form.validate_on_submit():
        tasks = []
        for upload in _uploads(form.pages.data or []):
            staged = _queue_folder() / uuid.uuid4().hex
            upload.save(staged)
            task = UploadTask(
                item_id=item.id,
                staged_path=str(staged),
                filename=clean_filename(upload.filename, staged.name),
            )
            db.session.add(task)
            tasks.append(task)
        db.session.commit()
        for task in tasks:
            submit_upload(task)
        if request.accept_mimetypes.best == "application/json":
            return jsonify(tasks=[task_json(t) for t in tasks])
        flash(_("%(count)d files are being processed.", count=len(tasks)))
        return redirect(url_for("admin.pages", item_id=item.id))
    recent = (
        db.session.execute(
            db.select(UploadTask)
            .filter_by(item_id=item.id)
            .order_by(UploadTask.id.desc())
            .limit(200)
        )
        .scalars()
        .all()
    )
    refused = [task for task in recent if task.status == "failed"]
    return render_template("admin/pages.html", item=item, form=form, tasks=recent, refused=refused)


def task_json(task: UploadTask) -> dict[str, object]:
    return {
        "id": task.id,
        "filename": task.filename,
        "status": task.status,
        "message": task.message,
        "pages": task.pages,
    }


@bp.get("/items/<item_id>/uploads")
def uploads(item_id: str) -> Response:
    """Processing status of this item's uploads, for the page's progress display."""
    item = db.get_or_404(Item, item_id)
    fail_orphaned_tasks(item.id)
    tasks = db.session.execute(
        db.select(UploadTask).filter_by(item_id=item.id).order_by(UploadTask.id)
    ).scalars()
    state = [task_json(t) for t in tasks]
    refused = [
        {"filename": t["filename"], "message": t["message"]}
        for t in state
        if t["status"] == "failed"
    ]
    return jsonify(tasks=state, refused=refused, pages=len(item.images))
