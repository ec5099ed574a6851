"""Curators: create collections and items, upload pages, publish."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileRequired, MultipleFileField
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from .. import get_storage
from ..extensions import db
from ..models import Collection, Item
from ..services.ingest import (
    IngestError,
    ItemDraft,
    PageFile,
    ingest_item,
    natural_order,
    staging_folder,
)
from ..services.publish import publish_item
from ..web import ingest_settings, public_urls

bp = Blueprint("admin", __name__, url_prefix="/admin")

DIRECTIONS = [
    SelectChoice("left-to-right", _l("Left to right")),
    SelectChoice("right-to-left", _l("Right to left (Hán-Nôm)")),
    SelectChoice("top-to-bottom", _l("Top to bottom")),
]


@bp.before_request
@login_required
def require_staff() -> None:
    if not current_user.is_staff:
        abort(403, _("Only curators and administrators may use the admin."))


class CollectionForm(FlaskForm):
    slug = StringField(
        _l("Short name (for the address)"),
        validators=[
            DataRequired(),
            Length(max=80),
            Regexp(r"^[a-z0-9][a-z0-9-]*$", message=_l("Use lowercase letters, digits and -.")),
        ],
    )
    title_vi = StringField(_l("Title (Vietnamese)"), validators=[DataRequired(), Length(max=500)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=500)])


class ItemForm(FlaskForm):
    collection = SelectField(_l("Collection"), validators=[DataRequired()])
    title_vi = StringField(_l("Title (Vietnamese)"), validators=[DataRequired(), Length(max=500)])
    title_en = StringField(_l("Title (English)"), validators=[Optional(), Length(max=500)])
    viewing_direction = SelectField(_l("Reading direction"), choices=DIRECTIONS)
    pages = MultipleFileField(_l("Page images or PDF"), validators=[FileRequired()])


class PublishForm(FlaskForm):
    pass


@bp.get("/")
def index() -> str:
    items = db.session.execute(db.select(Item).order_by(Item.created_at.desc())).scalars().all()
    return render_template("admin/index.html", items=items, publish_form=PublishForm())


@bp.route("/collections/new", methods=["GET", "POST"])
def new_collection() -> str | Response:
    form = CollectionForm()
    if form.validate_on_submit():
        taken = db.session.execute(db.select(Collection).filter_by(slug=form.slug.data)).scalar()
        if taken is not None:
            form.slug.errors.append(_("Another collection already uses this short name."))
        else:
            title = {"vi": form.title_vi.data or "", "en": form.title_en.data or ""}
            db.session.add(Collection(slug=form.slug.data, title=title))
            db.session.commit()
            flash(_("Collection created."))
            return redirect(url_for("admin.index"))
    return render_template("admin/collection_form.html", form=form)


def _save_uploads(files: list[FileStorage], folder: Path) -> tuple[PageFile, ...]:
    """Write uploads under safe generated names; keep what the curator called them."""
    pages = []
    for number, upload in enumerate(files, start=1):
        name = unicodedata.normalize("NFC", Path(upload.filename or f"{number}").name)
        name = re.sub(r"[\x00-\x1f/\\]", "", name)[:255] or str(number)
        path = folder / f"upload-{number:05d}"
        upload.save(path)
        pages.append(PageFile(path, name))
    return tuple(pages)


@bp.route("/items/new", methods=["GET", "POST"])
def new_item() -> str | Response:
    form = ItemForm()
    collections = db.session.execute(db.select(Collection).order_by(Collection.slug)).scalars()
    form.collection.choices = [
        SelectChoice(c.slug, c.title.get("vi") or c.slug) for c in collections
    ]
    if form.validate_on_submit():
        settings = ingest_settings()
        with staging_folder(settings.staging_dir, "upload") as tmp:
            pages = _save_uploads(form.pages.data, Path(tmp))
            draft = ItemDraft(
                collection_slug=form.collection.data,
                title={"vi": form.title_vi.data or "", "en": form.title_en.data or ""},
                pages=natural_order(pages),
                viewing_direction=form.viewing_direction.data,
            )
            try:
                result = ingest_item(draft, get_storage(), settings)
            except IngestError as exc:
                form.pages.errors = list(exc.reasons)
            else:
                count = len(result.item.images)
                if result.created:
                    flash(_("Item created with %(count)d pages.", count=count))
                else:
                    flash(_("These files were already ingested as an item."))
                return redirect(url_for("admin.index"))
    return render_template("admin/item_form.html", form=form)


@bp.post("/items/<item_id>/publish")
def publish(item_id: str) -> Response:
    form = PublishForm()
    if not form.validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    item = db.get_or_404(Item, item_id)
    publish_item(item, get_storage(), public_urls())
    flash(_("Published."))
    return redirect(url_for("admin.index"))
