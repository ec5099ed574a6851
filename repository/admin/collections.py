"""Collections in the admin: list, create, edit and delete them."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from .. import get_storage
from ..extensions import db
from ..models import Collection, Image, Item, ReaderGroup
from ..services.access import AccessLevel
from ..services.collections_admin import (
    Actor,
    CollectionDraft,
    collection_rows,
    create_collection,
    delete_collection,
    deletion_blockers,
    update_collection,
)
from ..services.errors import Conflict, Refused
from ..services.publish import collection_items, refresh_policies
from ..web import client_address, localized, publish_settings
from .blueprint import bp
from .forms import ocr_choices

ACCESS_NAMES = {
    AccessLevel.OPEN: _l("Open to everyone"),
    AccessLevel.DEGRADED: _l("Reduced size for visitors"),
    AccessLevel.RESTRICTED: _l("Restricted to readers"),
    AccessLevel.ONSITE: _l("Reading room only"),
    AccessLevel.STAFF: _l("Staff only"),
}


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _slug_filter(value: str | None) -> str | None:
    return value.strip().lower() if isinstance(value, str) else value


class CollectionForm(FlaskForm):
    title_vi = StringField(
        _l("Title (Vietnamese)"), filters=[_strip], validators=[DataRequired(), Length(max=500)]
    )
    title_en = StringField(
        _l("Title (English)"), filters=[_strip], validators=[Optional(), Length(max=500)]
    )
    description_vi = TextAreaField(
        _l("Description (Vietnamese)"), validators=[Optional(), Length(max=5000)]
    )
    description_en = TextAreaField(
        _l("Description (English)"), validators=[Optional(), Length(max=5000)]
    )
    default_access = SelectField(
        _l("Access for new items"),
        choices=[SelectChoice(level.value, name) for level, name in ACCESS_NAMES.items()],
        default=AccessLevel.OPEN.value,
    )
    ocr_languages = SelectField(_l("Text recognition (OCR) of new pages"), default="")
    parent = SelectField(_l("Inside collection"), default="")
    featured = BooleanField(_l("Feature on the home page"))
    cover = SelectField(_l("Cover image"), default="")
    groups = SelectMultipleField(
        _l("Reader groups allowed into restricted items"),
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


class NewCollectionForm(CollectionForm):
    slug = StringField(
        _l("Short name (for the address)"),
        filters=[_slug_filter],
        validators=[
            DataRequired(),
            Length(max=80),
            Regexp(r"^[a-z0-9][a-z0-9-]*$", message=_l("Use lowercase letters, digits and -.")),
        ],
    )


class DeleteForm(FlaskForm):
    pass


def _offer_choices(form: CollectionForm, editing: Collection | None) -> None:
    """Parents (any other collection) and reader groups to choose from."""
    others = db.session.execute(db.select(Collection).order_by(Collection.slug)).scalars()
    form.parent.choices = [SelectChoice("", _("None (top level)"))] + [
        SelectChoice(str(c.id), f"{localized(c.title) or c.slug} ({c.slug})")
        for c in others
        if c is not editing
    ]
    groups = db.session.execute(db.select(ReaderGroup).order_by(ReaderGroup.name)).scalars()
    form.groups.choices = [SelectChoice(g.id, localized(g.label) or g.name) for g in groups]
    form.cover.choices = [SelectChoice("", _("The first page of the first item"))]
    form.ocr_languages.choices = ocr_choices()
    if editing is not None:
        pages = db.session.execute(
            db.select(Image, Item)
            .join(Item, Image.item_id == Item.id)
            .where(Item.collection_id == editing.id)
            .order_by(Item.created_at, Image.position)
            .limit(1000)
        ).all()
        form.cover.choices += [
            SelectChoice(image.id, f"{localized(item.title)} — {image.label}")
            for image, item in pages
        ]


def _form_data(collection: Collection) -> dict[str, Any]:
    return {
        "title_vi": collection.title.get("vi", ""),
        "title_en": collection.title.get("en", ""),
        "description_vi": collection.description.get("vi", ""),
        "description_en": collection.description.get("en", ""),
        "default_access": collection.default_access,
        "parent": str(collection.parent_id or ""),
        "featured": collection.featured,
        "groups": [g.id for g in collection.groups],
        "cover": collection.cover_image_id or "",
        "ocr_languages": collection.ocr_languages,
    }


def _draft(form: CollectionForm) -> CollectionDraft:
    return CollectionDraft(
        title={"vi": form.title_vi.data or "", "en": form.title_en.data or ""},
        description={"vi": form.description_vi.data or "", "en": form.description_en.data or ""},
        default_access=AccessLevel(form.default_access.data),
        parent_id=int(form.parent.data) if form.parent.data else None,
        featured=bool(form.featured.data),
        group_ids=frozenset(form.groups.data or ()),
        cover_image_id=form.cover.data or None,
        ocr_languages=form.ocr_languages.data or "",
    )


def _show_refusal(form: CollectionForm, refused: Refused) -> None:
    """Each reason next to its field."""
    for name, message in refused.fields.items():
        field = form[name]
        field.errors = [*field.errors, message]


def _actor() -> Actor:
    return Actor(current_user.username, client_address())


def _find(slug: str) -> Collection:
    found: Collection = db.first_or_404(db.select(Collection).filter_by(slug=slug))
    return found


@bp.get("/collections")
def list_collections() -> str:
    """Every collection, with its items, access and place in the tree."""
    return render_template(
        "admin/collections.html", rows=collection_rows(), access_names=ACCESS_NAMES
    )


@bp.route("/collections/new", methods=["GET", "POST"])
def new_collection() -> str | Response:
    form = NewCollectionForm()
    _offer_choices(form, None)
    if form.validate_on_submit():
        try:
            create_collection(form.slug.data or "", _draft(form), _actor())
        except Refused as refused:
            _show_refusal(form, refused)
        else:
            flash(_("Collection created."))
            return redirect(url_for("admin.list_collections"))
    return render_template("admin/collection_form.html", form=form, collection=None)


@bp.route("/collections/<slug>/edit", methods=["GET", "POST"])
def edit_collection(slug: str) -> str | Response:
    collection = _find(slug)
    form = CollectionForm(data=_form_data(collection))
    _offer_choices(form, collection)
    if form.validate_on_submit():
        try:
            update = update_collection(collection, _draft(form), _actor())
        except Refused as refused:
            _show_refusal(form, refused)
        else:
            flash(_("Collection saved."))
            if update.groups_changed:  # the image server applies them at once
                refresh_policies(collection_items(collection.id), get_storage(), publish_settings())
            return redirect(url_for("admin.list_collections"))
    return render_template("admin/collection_form.html", form=form, collection=collection)


@bp.route("/collections/<slug>/delete", methods=["GET", "POST"], endpoint="delete_collection")
def confirm_delete(slug: str) -> str | Response | tuple[str, int]:
    """Confirm, then delete: only an empty collection can go."""
    collection = _find(slug)
    form = DeleteForm()
    if form.validate_on_submit():
        try:
            delete_collection(collection, _actor())
        except Conflict as refused:
            page = render_template(
                "admin/collection_delete.html",
                collection=collection,
                form=form,
                reasons=list(refused.reasons),
            )
            return page, refused.status
        flash(_("Collection deleted."))
        return redirect(url_for("admin.list_collections"))
    reasons = list(deletion_blockers(collection))
    return render_template(
        "admin/collection_delete.html", collection=collection, form=form, reasons=reasons
    )
