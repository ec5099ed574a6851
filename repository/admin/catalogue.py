"""Describing items in the admin: metadata, pages, contents, workflow, bulk actions."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import get_storage
from ..extensions import db
from ..models import Item, PageText
from ..services.audit import record
from ..services.cataloguing import (
    DC_FIELDS,
    Actor,
    ItemDescription,
    PageArrangement,
    arrange_pages,
    describe_item,
    format_outline,
    format_titles,
    format_values,
    set_outline,
)
from ..services.errors import Refused
from ..services.publish import publish_item, withdraw_item
from ..tasks import ocr_worker
from ..web import client_address, publish_settings
from .blueprint import bp
from .forms import INHERIT, BulkForm, ItemEditForm, OutlineForm, PublishForm, ocr_choices


def actor() -> Actor:
    return Actor(current_user.username, client_address())


def publish_recorded(item: Item) -> None:
    """Publish an item with pages, and write who did it to the audit trail."""
    publish_item(item, get_storage(), publish_settings())
    record(
        "publish",
        current_user.username,
        target=item.id,
        detail=item.access,
        address=client_address(),
    )


def _fill(form: ItemEditForm, item: Item) -> None:
    form.title_vi.data, form.title_en.data = item.title.get("vi"), item.title.get("en")
    form.titles_other.data = format_titles(item.title)
    form.summary_vi.data, form.summary_en.data = item.summary.get("vi"), item.summary.get("en")
    form.year_start.data, form.year_end.data = item.year_start, item.year_end
    form.viewing_direction.data, form.behavior.data = item.viewing_direction, item.behavior
    form.rights.data, form.access.data = item.rights, item.access
    form.embargo_until.data = item.embargo_until
    form.ocr_languages.data = INHERIT if item.ocr_languages is None else item.ocr_languages
    for name in DC_FIELDS:
        getattr(form, f"dc_{name}").data = format_values(item.dc.get(name, []))


def _description(form: ItemEditForm) -> ItemDescription:
    return ItemDescription(
        title={"vi": form.title_vi.data or "", "en": form.title_en.data or ""},
        summary={"vi": form.summary_vi.data or "", "en": form.summary_en.data or ""},
        dc={name: getattr(form, f"dc_{name}").data or "" for name in DC_FIELDS},
        year_start=form.year_start.data,
        year_end=form.year_end.data,
        viewing_direction=form.viewing_direction.data,
        behavior=form.behavior.data,
        rights=form.rights.data or "",
        access=form.access.data,
        embargo_until=form.embargo_until.data,
        ocr_languages=None if form.ocr_languages.data == INHERIT else form.ocr_languages.data,
        other_titles=form.titles_other.data or "",
    )


@bp.route("/items/<item_id>", methods=["GET", "POST"])
def edit_item(item_id: str) -> str | Response:
    """The catalogue record: Dublin Core, dates, layout, access and embargo.

    One form, two buttons: "Save", and "Save and publish" (``publish`` in the form), which
    saves what was typed first and publishes only once it is saved."""
    item = db.get_or_404(Item, item_id)
    form = ItemEditForm()
    form.ocr_languages.choices = ocr_choices(inherit=True)
    if request.method == "GET":
        _fill(form, item)
    elif form.validate_on_submit() and _save(form, item):
        if "publish" in request.form and item.status != "published":
            _publish_saved(item)
        return redirect(url_for("admin.edit_item", item_id=item.id))
    return _record_page(item, form)


def _save(form: ItemEditForm, item: Item) -> bool:
    """Save the typed description; False (with the reasons on the fields) if refused."""
    try:
        queued = describe_item(item, _description(form), actor(), get_storage(), publish_settings())
    except Refused as exc:
        db.session.rollback()  # nothing of a refused description stays in the session
        for name, problem in exc.fields.items():
            getattr(form, name).errors.append(_(problem))
        return False
    flash(_("Saved."))
    if queued:
        ocr_worker(current_app._get_current_object()).wake()  # type: ignore[attr-defined]
        flash(_("%(num)d pages wait for text recognition.", num=queued))
    return True


def _publish_saved(item: Item) -> None:
    """Publish an item whose description has just been saved, as the dashboard does."""
    if not item.images:
        flash(_("Saved, but not published: an item needs at least one page first."))
        return
    publish_recorded(item)
    flash(_("Published."))


def _record_page(item: Item, form: ItemEditForm) -> str:
    ocr_status = dict(
        db.session.execute(
            db.select(PageText.status, db.func.count())
            .filter_by(item_id=item.id)
            .group_by(PageText.status)
        ).all()
    )
    return render_template(
        "admin/item_edit.html",
        item=item,
        form=form,
        refused=bool(form.errors),
        workflow=PublishForm(),
        dc_fields=DC_FIELDS,
        ocr_status=ocr_status,
    )


@bp.post("/items/<item_id>/withdraw")
def withdraw(item_id: str) -> Response:
    if not PublishForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    item = db.get_or_404(Item, item_id)
    withdraw_item(item, get_storage(), publish_settings())
    record("withdraw", current_user.username, target=item.id, address=client_address())
    flash(_("Withdrawn: the item is no longer shown to the public."))
    return redirect(url_for("admin.edit_item", item_id=item.id))


@bp.post("/items/<item_id>/arrange")
def arrange(item_id: str) -> Response:
    """Page order (drag and drop, or the move buttons), labels and the first page shown."""
    if not PublishForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    item = db.get_or_404(Item, item_id)
    order = request.form.getlist("order")
    move = request.form.get("move", "")
    if move:  # the keyboard and no-JavaScript way: one step up or down
        direction, _sep, image_id = move.partition(":")
        if image_id in order:
            index = order.index(image_id)
            other = index - 1 if direction == "up" else index + 1
            if 0 <= other < len(order):
                order[index], order[other] = order[other], order[index]
    labels = {key[6:]: value for key, value in request.form.items() if key.startswith("label-")}
    try:
        arrange_pages(
            item,
            PageArrangement(tuple(order), labels, request.form.get("start")),
            actor(),
            get_storage(),
            publish_settings(),
        )
    except Refused:
        flash(_("The page order must list every page once; reload the page and try again."))
    else:
        flash(_("Pages saved."))
    return redirect(url_for("admin.pages", item_id=item.id) + "#arrange")


@bp.route("/items/<item_id>/contents", methods=["GET", "POST"])
def contents(item_id: str) -> str | Response:
    """The table of contents, as an indented outline: 'Quyển 1 | 1-12'."""
    item = db.get_or_404(Item, item_id)
    form = OutlineForm()
    if request.method == "GET":
        form.toc.data = format_outline(item.toc or [], item)
    elif form.validate_on_submit():
        try:
            set_outline(item, form.toc.data or "", actor(), get_storage(), publish_settings())
        except Refused as exc:
            form.toc.errors.append(exc.fields["toc"])
        else:
            flash(_("Table of contents saved."))
            return redirect(url_for("admin.contents", item_id=item.id))
    return render_template("admin/contents.html", item=item, form=form)


@bp.post("/items/bulk")
def bulk() -> str | Response:
    """Publish, withdraw or set the access of several items: shown first, done once confirmed.

    Without ``confirm=yes`` nothing changes: the page lists what the action would do."""
    from .dashboard import apply_bulk, confirm_bulk, parse_bulk  # the item list's own views

    form = BulkForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400, _("The form expired; reload the page and try again."))
    change = parse_bulk(form, request.form)
    if request.form.get("confirm") != "yes":
        return confirm_bulk(change)
    return apply_bulk(change)
