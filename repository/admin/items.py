"""Items in the admin: create one (and publish it at once), then upload its pages with
per-file progress. The page manager's actions on pages already there (delete, replace,
folio labels) follow."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import update
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response
from wtforms.fields import SelectChoice

from image_server.policy import policy_key

from .. import get_storage
from ..extensions import db
from ..models import Collection, Image, Item, UploadTask
from ..services.audit import record
from ..services.cataloguing import PageArrangement, arrange_pages, parse_values
from ..services.errors import Refused, ServiceError
from ..services.ingest import (
    IngestSettings,
    ItemDraft,
    add_pages,
    draft_item,
    ingest_item,
    inspect,
)
from ..services.ocr import queue_pages
from ..services.page_files import PageFile, natural_order
from ..services.pending import staging_folder
from ..services.publish import publish_item, write_policies
from ..tasks import fail_orphaned_tasks, submit_ocr, submit_upload
from ..web import client_address, ingest_settings, publish_settings
from .blueprint import bp
from .catalogue import actor, publish_recorded
from .forms import FolioForm, ItemForm, PublishForm, ReplaceForm, UploadForm


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


def _collection_choices() -> list[SelectChoice]:
    collections = db.session.execute(db.select(Collection).order_by(Collection.slug)).scalars()
    return [SelectChoice(c.slug, c.title.get("vi") or c.slug) for c in collections]


def _draft(form: ItemForm) -> ItemDraft:
    creators = parse_values(form.dc_creator.data or "")  # its validator checked the tags
    return ItemDraft(
        collection_slug=form.collection.data,
        title={"vi": form.title_vi.data or "", "en": form.title_en.data or ""},
        pages=(),
        viewing_direction=form.viewing_direction.data,
        dc={"creator": creators} if creators else {},
    )


@bp.route("/items/new", methods=["GET", "POST"])
def new_item() -> str | Response:
    """Create an item: with files it is ingested at once, and "Create and publish" (``publish``
    in the form) publishes it too; without files it waits for uploads."""
    form = ItemForm()
    form.collection.choices = _collection_choices()
    publishing = "publish" in request.form
    if not form.validate_on_submit():
        return render_template("admin/item_form.html", form=form)
    files = _uploads(form.pages.data or [])
    if not files:
        if publishing:  # nothing is created: the curator meant an item with pages
            form.pages.errors = [_("Choose the page images to publish with the item.")]
            return render_template("admin/item_form.html", form=form)
        return _create_empty(_draft(form))
    settings = ingest_settings()
    with staging_folder(settings.staging_dir, "upload") as tmp:
        pages = natural_order(_save_uploads(files, Path(tmp)))
        try:
            result = ingest_item(replace(_draft(form), pages=pages), get_storage(), settings)
        except ServiceError as exc:
            form.pages.errors = list(exc.reasons)
            return render_template("admin/item_form.html", form=form)
    item = result.item
    if not result.created:
        flash(_("These files were already ingested as an item."))
    elif publishing:
        publish_recorded(item)
        flash(_("Item created with %(count)d pages and published.", count=len(item.images)))
        return redirect(url_for("admin.edit_item", item_id=item.id))
    else:
        flash(_("Item created with %(count)d pages.", count=len(item.images)))
    return redirect(url_for("admin.pages", item_id=item.id))


def _create_empty(draft: ItemDraft) -> Response:
    collection = db.session.execute(
        db.select(Collection).filter_by(slug=draft.collection_slug)
    ).scalar_one()
    item = draft_item(draft, collection)
    db.session.add(item)
    db.session.commit()
    return redirect(url_for("admin.pages", item_id=item.id))


def _queue_folder() -> Path:
    """The folder of uploads waiting for a worker: it outlives the web process that
    received them (its name has no pid, so cleanup leaves it alone)."""
    folder = ingest_settings().staging_dir / "queued_uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@bp.route("/items/<item_id>/pages", methods=["GET", "POST"])
def pages(item_id: str) -> tuple[str, int] | Response:
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
    return pages_page(item, form)


def pages_page(
    item: Item, form: UploadForm | None = None, status: int = 200, **panel: object
) -> tuple[str, int]:
    """The page manager; ``panel`` holds what a page action shows (its confirmation, its
    form, its refusal), or, on a plain visit, the page ``?delete=`` or ``?replace=`` names."""
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
    for action in ("delete", "replace"):
        chosen = request.args.get(action)
        if chosen and not panel:
            panel = {action: page_of(item, chosen)}
    if "replace" in panel:
        panel.setdefault("replace_form", ReplaceForm())
    page = render_template(
        "admin/pages.html",
        item=item,
        form=form or UploadForm(),
        tasks=recent,
        refused=[task for task in recent if task.status == "failed"],
        action_form=PublishForm(),
        folio_form=FolioForm(),
        **panel,
    )
    return page, status


def page_of(item: Item, image_id: str) -> Image:
    """One of this item's pages, or 404: a page is reached only through its own item."""
    image = db.session.get(Image, image_id)
    if image is None or image.item_id != item.id:
        abort(404)
    return image


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


# Page actions. Each changes the rows first, then republishes a published item, and only
# then removes the old page's files: the stored manifest never names a page that is gone.


def folio_labels(scheme: str, count: int) -> list[str]:
    """Labels for ``count`` pages in order: "tờ 1a, tờ 1b, tờ 2a…" or "1r, 1v, 2r…"."""
    prefix, sides = ("tờ ", "ab") if scheme == "to" else ("", "rv")
    return [f"{prefix}{number // 2 + 1}{sides[number % 2]}" for number in range(count)]


@bp.post("/items/<item_id>/folios")
def folios(item_id: str) -> Response:
    """Label every page, in order, as leaves (tờ 1a, 1b…) or as recto and verso (1r, 1v…)."""
    form = FolioForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, _("The form expired; reload the page and try again."))
        abort(400, _("Choose one of the label schemes offered."))
    item = db.get_or_404(Item, item_id)
    order = tuple(image.id for image in item.images)
    labels = dict(zip(order, folio_labels(form.scheme.data, len(order)), strict=True))
    arrangement = PageArrangement(order, labels, item.start_image_id)
    arrange_pages(item, arrangement, actor(), get_storage(), publish_settings())
    flash(_("Every page is labelled."))
    return redirect(url_for("admin.pages", item_id=item.id) + "#arrange")


@bp.post("/items/<item_id>/pages/<image_id>/delete")
def delete_page(item_id: str, image_id: str) -> tuple[str, int] | Response:
    """Delete one page, after the confirmation the page manager asks for."""
    if not PublishForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    item = db.get_or_404(Item, item_id)
    image = page_of(item, image_id)
    if item.status == "published" and len(item.images) == 1:
        problem = _("The only page of a published item cannot be deleted: withdraw it first.")
        return pages_page(item, status=409, delete=image, problem=problem)
    label, keys = image.label, _take_out(item, image)
    db.session.commit()
    _follow(item, keys)
    record(
        "page-deleted",
        current_user.username,
        target=item.id,
        detail=label,
        address=client_address(),
    )
    flash(_("Page “%(label)s” deleted.", label=label))
    return redirect(url_for("admin.pages", item_id=item.id) + "#arrange")


@bp.post("/items/<item_id>/pages/<image_id>/replace")
def replace_page(item_id: str, image_id: str) -> tuple[str, int] | Response:
    """A new image for one page, through the same checks as every upload."""
    form = ReplaceForm()
    item = db.get_or_404(Item, item_id)
    old = page_of(item, image_id)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, _("The form expired; reload the page and try again."))
        return pages_page(item, status=422, replace=old, replace_form=form)
    settings = ingest_settings()
    with staging_folder(settings.staging_dir, "replace") as tmp:
        (page_file,) = _save_uploads([form.image.data], Path(tmp))
        try:
            new = _replace(item, old, page_file, settings)
        except ServiceError as exc:
            form.image.errors = list(exc.reasons)
            return pages_page(item, status=exc.status, replace=old, replace_form=form)
    record(
        "page-replaced",
        current_user.username,
        target=item.id,
        detail=new.label,
        address=client_address(),
    )
    flash(_("Page “%(label)s” replaced.", label=new.label))
    return redirect(url_for("admin.pages", item_id=item.id) + "#arrange")


def _replace(item: Item, old: Image, page_file: PageFile, settings: IngestSettings) -> Image:
    """Ingest the new image (all of it or none), then put it where the old page was."""
    found = sum(len(master.pages) for master in inspect((page_file,), settings.limits))
    if found != 1:
        raise Refused(
            reasons=[
                _(
                    "%(name)s has %(count)d pages; a page is replaced by one image.",
                    name=page_file.name,
                    count=found,
                )
            ]
        )
    storage = get_storage()
    (new,) = add_pages(item, (page_file,), storage, settings)  # committed, at the end
    try:
        keys = _swap(item, old, new)
    except BaseException:  # the new page goes again: nothing half-replaced stays
        db.session.rollback()
        _follow(item, _take_out(item, new), commit=True)
        raise
    if item.status == "published":  # its sidecar exists before the manifest names it
        write_policies(item, storage, publish_settings())
    _follow(item, keys)
    return new


def _swap(item: Item, old: Image, new: Image) -> list[str]:
    """Put the new page where the old one was, with its label, and commit; the keys of the
    old page's files."""
    index, new.label = item.images.index(old), old.label
    if item.start_image_id == old.id:
        item.start_image_id = new.id
    if item.toc:
        item.toc = _toc_with(item.toc, old.id, new.id)
    db.session.execute(
        update(Collection).where(Collection.cover_image_id == old.id).values(cover_image_id=new.id)
    )
    keys = _take_out(item, old)
    order = [image for image in item.images if image is not new]
    order.insert(index, new)
    _number(order)
    queued = queue_pages(item, [new])
    db.session.commit()
    if queued:
        submit_ocr()
    return keys


def _take_out(item: Item, image: Image) -> list[str]:
    """Remove a page from the item's rows, numbering the rest again (the caller commits);
    the storage keys that only it used."""
    keys = [image.pyramid_key, policy_key(image.id)]
    if not any(o.master_key == image.master_key for o in item.images if o is not image):
        keys.append(image.master_key)  # a PDF's pages share their master
    if item.start_image_id == image.id:
        item.start_image_id = None
    if item.toc:
        item.toc = _toc_with(item.toc, image.id, None)
    db.session.execute(
        update(Collection).where(Collection.cover_image_id == image.id).values(cover_image_id=None)
    )
    item.images.remove(image)  # delete-orphan: the row (and its page text) goes
    db.session.flush()
    _number(list(item.images))
    return keys


def _number(images: list[Image]) -> None:
    """Positions 1, 2, 3… in this order, flushed (the unique positions are cleared first,
    to numbers no page has)."""
    for offset, image in enumerate(images):
        image.position = -1 - offset
    db.session.flush()
    for position, image in enumerate(images, start=1):
        image.position = position
    db.session.flush()


def _toc_with(entries: list[dict[str, Any]], old: str, new: str | None) -> list[dict[str, Any]]:
    """The table of contents with page ``old`` replaced by ``new`` (or left out)."""
    return [
        {
            **entry,
            "pages": [new if p == old else p for p in entry.get("pages", []) if new or p != old],
            "children": _toc_with(entry.get("children", []), old, new),
        }
        for entry in entries
    ]


def _follow(item: Item, keys: list[str], commit: bool = False) -> None:
    """Republish a published item, then remove the files of the pages it no longer has."""
    if commit:
        db.session.commit()
    storage = get_storage()
    if item.status == "published":
        publish_item(item, storage, publish_settings())
    for key in keys:
        storage.delete(key)
