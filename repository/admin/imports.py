"""Spreadsheet import in the admin: upload an open-data CSV, see its rows (or every bad
row, in the reader's language), then confirm. The same reader and the same all-or-nothing
save as `tangthu import` (services.union.opendata_csv); the web adds its own bounds. A
file of more than QUEUE_ABOVE_ROWS rows is imported by the `import` job (tasks.py), still
in one transaction, and its progress is on the Tasks page."""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.utils import secure_filename
from werkzeug.wrappers import Response

from .. import get_storage
from ..extensions import db
from ..jobs import submit
from ..models import Collection
from ..services.audit import record
from ..services.errors import Refused, ServiceError, TooLarge
from ..services.union.opendata_csv import (
    STAGING,
    BadRows,
    import_csv,
    read_csv_records,
    staged_folder,
)
from ..services.union.records import ImportResult, RecordDraft
from ..web import client_address, localized, publish_settings
from .blueprint import bp
from .forms import ImportForm

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # one CSV sent through the web: larger ones, the CLI
MAX_UPLOAD_ROWS = 20_000  # rows of one CSV sent through the web (the job imports them)
QUEUE_ABOVE_ROWS = 500  # more rows than this are imported by a job, not in the request
PREVIEW_ROWS = 100  # rows shown before the curator confirms
STALE_SECONDS = 24 * 3600  # previews never confirmed are removed after a day
SESSION_KEY = "import_preview"


def _staging() -> Path:
    return Path(current_app.instance_path) / STAGING


def _sweep_stale(root: Path) -> None:
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.is_dir() and time.time() - folder.stat().st_mtime > STALE_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)


def _offer_collections(form: ImportForm) -> None:
    collections = db.session.execute(db.select(Collection).order_by(Collection.slug)).scalars()
    form.collection.choices = [(c.id, localized(c.title) or c.slug) for c in collections]


def _stage(form: ImportForm) -> tuple[str, Path]:
    """The upload in its own folder under the instance, read at most MAX_UPLOAD_BYTES."""
    upload = form.spreadsheet.data
    name = secure_filename(upload.filename or "") or "import.csv"
    if not name.lower().endswith(".csv"):
        raise Refused(_("Choose a .csv file (an open-data CSV, in UTF-8)."))
    body = upload.stream.read(MAX_UPLOAD_BYTES + 1)
    if len(body) > MAX_UPLOAD_BYTES:
        limit = MAX_UPLOAD_BYTES // 2**20
        raise TooLarge(
            _("The file is larger than %(mb)d MB: import it with `tangthu import`.", mb=limit)
        )
    _sweep_stale(_staging())
    token = secrets.token_urlsafe(24)
    folder = _staging() / token
    folder.mkdir(parents=True)
    path = folder / name
    path.write_bytes(body)
    return token, path


def _read(path: Path) -> list[RecordDraft]:
    drafts = read_csv_records(path)  # Refused with every bad row, as the CLI prints them
    if len(drafts) > MAX_UPLOAD_ROWS:
        raise TooLarge(
            _(
                "The file has %(rows)d rows; the web imports at most %(limit)d at once:"
                " split it, or import it with `tangthu import`.",
                rows=len(drafts),
                limit=MAX_UPLOAD_ROWS,
            )
        )
    return drafts


def _staged(token: str) -> Path | None:
    """The staged file of this curator's preview, if the token is theirs and it is there."""
    folder = staged_folder(Path(current_app.instance_path), token)
    if folder is None or session.get(SESSION_KEY) != token:
        return None
    files = sorted(folder.glob("*.csv"))
    return files[0] if files else None


def _refusal(refused: ServiceError) -> tuple[str, list[str]]:
    """The headline and one line per problem, bad rows in the reader's language."""
    if not isinstance(refused, BadRows):
        return refused.message, list(refused.reasons)
    num = len(refused.rows)
    headline = ngettext(
        "%(name)s: %(num)d bad row", "%(name)s: %(num)d bad rows", num, name=refused.name
    )
    lines = [
        _(
            "Row %(row)d (line %(line)d): %(reason)s",
            row=problem.row,
            line=problem.line,
            reason=problem.reason(_),
        )
        for problem in refused.rows
    ]
    return headline, lines


def _refused_page(form: ImportForm, refused: ServiceError) -> tuple[str, int]:
    headline, reasons = _refusal(refused)
    page = render_template("admin/import.html", form=form, headline=headline, reasons=reasons)
    return page, refused.status


@bp.route("/import", methods=["GET", "POST"])
def import_spreadsheet() -> tuple[str, int]:
    """Upload and check a CSV: its rows to confirm, or why nothing can be imported."""
    form = ImportForm()
    _offer_collections(form)
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("admin/import.html", form=form, headline=None), status
    path = None
    try:
        token, path = _stage(form)
        drafts = _read(path)
    except ServiceError as refused:
        if path is not None:
            shutil.rmtree(path.parent, ignore_errors=True)
        return _refused_page(form, refused)
    session[SESSION_KEY] = token
    return render_template(
        "admin/import_preview.html",
        form=form,
        token=token,
        name=path.name,
        drafts=drafts[:PREVIEW_ROWS],
        total=len(drafts),
        queued=len(drafts) > QUEUE_ABOVE_ROWS,
    ), 200


def _import(path: Path, form: ImportForm, collection: Collection) -> ImportResult:
    """The CLI's import of the staged file, within the web's bounds; audited."""
    publish = bool(form.publish.data)
    storage, settings = (get_storage(), publish_settings()) if publish else (None, None)
    result = import_csv(
        path,
        collection,
        (form.institution.data or "").strip()[:255],
        publish,
        storage=storage,
        settings=settings,
    )
    detail = f"{path.name}: {result.created} new, {result.updated} updated"
    record("import", current_user.username, collection.slug, detail, client_address())
    return result


def _enqueue(path: Path, form: ImportForm, collection: Collection) -> Response:
    """Hand the staged file to the `import` job, which removes it when it ends."""
    os.utime(path.parent)  # not stale while it waits its turn
    params = {
        "token": path.parent.name,
        "collection": collection.id,
        "institution": (form.institution.data or "").strip()[:255],
        "publish": bool(form.publish.data),
        "by": current_user.username,
        "address": client_address() or "",
    }
    job = submit("import", params)
    detail = f"{path.name}: job {job.id}"
    record("import-queued", current_user.username, collection.slug, detail, client_address())
    flash(_("The import is queued as task %(id)d; the Tasks page shows its progress.", id=job.id))
    return redirect(url_for("admin.tasks"))


@bp.post("/import/confirm")
def import_confirm() -> tuple[str, int] | Response:
    """Import the previewed file: every row in one transaction, or none; a long file by a
    job. The preview is used once, whatever happens."""
    form = ImportForm()
    _offer_collections(form)
    path = _staged(request.form.get("token", ""))
    if path is None:
        flash(_("This preview has expired or is not yours: upload the file again."))
        return redirect(url_for("admin.import_spreadsheet"))
    session.pop(SESSION_KEY, None)
    collection = db.get_or_404(Collection, form.collection.data or 0)
    queued = False
    try:
        if len(_read(path)) > QUEUE_ABOVE_ROWS:  # the same bounds as the preview
            queued = True
            return _enqueue(path, form, collection)
        result = _import(path, form, collection)
    except ServiceError as refused:
        db.session.rollback()
        return _refused_page(form, refused)
    finally:
        if not queued:
            shutil.rmtree(path.parent, ignore_errors=True)
    flash(
        _(
            "Imported into %(collection)s: %(created)d new, %(updated)d updated,"
            " %(published)d published.",
            collection=localized(collection.title) or collection.slug,
            created=result.created,
            updated=result.updated,
            published=result.published,
        )
    )
    return redirect(url_for("admin.index"))
