"""Spreadsheet import in the admin: upload an open-data CSV, see its rows (or every bad
row), then confirm. The same reader and the same all-or-nothing save as `tangthu import`
(services.union.opendata_csv); the web adds its own, smaller bounds on one request."""

from __future__ import annotations

import re
import secrets
import shutil
import time
from pathlib import Path

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.utils import secure_filename
from werkzeug.wrappers import Response

from .. import get_storage
from ..extensions import db
from ..models import Collection
from ..services.audit import record
from ..services.errors import Refused, ServiceError, TooLarge
from ..services.union.opendata_csv import import_csv, read_csv_records
from ..services.union.records import ImportResult, RecordDraft
from ..web import client_address, localized, publish_settings
from .blueprint import bp
from .forms import ImportForm

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # one CSV sent through the web: larger ones, the CLI
MAX_UPLOAD_ROWS = 2000  # rows imported within one web request
PREVIEW_ROWS = 100  # rows shown before the curator confirms
STALE_SECONDS = 24 * 3600  # previews never confirmed are removed after a day
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
SESSION_KEY = "import_preview"


def _staging() -> Path:
    return Path(current_app.instance_path) / "imports"


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
    if not _TOKEN.fullmatch(token) or session.get(SESSION_KEY) != token:
        return None
    files = sorted((_staging() / token).glob("*.csv"))
    return files[0] if files else None


@bp.route("/import", methods=["GET", "POST"])
def import_spreadsheet() -> tuple[str, int]:
    """Upload and check a CSV: its rows to confirm, or why nothing can be imported."""
    form = ImportForm()
    _offer_collections(form)
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("admin/import.html", form=form, refused=None), status
    path = None
    try:
        token, path = _stage(form)
        drafts = _read(path)
    except ServiceError as refused:
        if path is not None:
            shutil.rmtree(path.parent, ignore_errors=True)
        return render_template("admin/import.html", form=form, refused=refused), refused.status
    session[SESSION_KEY] = token
    return render_template(
        "admin/import_preview.html",
        form=form,
        token=token,
        name=path.name,
        drafts=drafts[:PREVIEW_ROWS],
        total=len(drafts),
    ), 200


def _import(path: Path, form: ImportForm, collection: Collection) -> ImportResult:
    """The CLI's import of the staged file, within the web's bounds; audited."""
    publish = bool(form.publish.data)
    storage, settings = (get_storage(), publish_settings()) if publish else (None, None)
    _read(path)  # the same bounds as the preview, on the same bytes
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


@bp.post("/import/confirm")
def import_confirm() -> tuple[str, int] | Response:
    """Import the previewed file: every row in one transaction, or none."""
    form = ImportForm()
    _offer_collections(form)
    path = _staged(request.form.get("token", ""))
    if path is None:
        flash(_("This preview has expired or is not yours: upload the file again."))
        return redirect(url_for("admin.import_spreadsheet"))
    collection = db.get_or_404(Collection, form.collection.data or 0)
    try:
        result = _import(path, form, collection)
    except ServiceError as refused:
        db.session.rollback()
        return render_template("admin/import.html", form=form, refused=refused), refused.status
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
        session.pop(SESSION_KEY, None)
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
