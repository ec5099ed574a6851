"""The admin's front page (every item, with publishing), and the audit log."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import get_storage
from ..extensions import db
from ..models import AuditEvent, Item
from ..services.audit import record
from ..services.publish import publish_item
from ..web import client_address, publish_settings
from .blueprint import bp
from .forms import BulkForm, PublishForm


@bp.get("/")
def index() -> str:
    listed = db.session.execute(db.select(Item).order_by(Item.created_at.desc())).scalars().all()
    return render_template(
        "admin/index.html", items=listed, publish_form=PublishForm(), bulk_form=BulkForm()
    )


@bp.post("/items/<item_id>/publish")
def publish(item_id: str) -> Response:
    form = PublishForm()
    if not form.validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    item = db.get_or_404(Item, item_id)
    if not item.images:
        flash(_("An item needs at least one page before it can be published."))
        return redirect(url_for("admin.pages", item_id=item.id))
    publish_item(item, get_storage(), publish_settings())
    record(
        "publish",
        current_user.username,
        target=item.id,
        detail=item.access,
        address=client_address(),
    )
    flash(_("Published."))
    return redirect(url_for("admin.edit_item", item_id=item.id))


@bp.get("/audit")
def audit() -> str:
    """The audit log, newest first: for administrators only."""
    if current_user.role != "admin":
        abort(403, _("Only administrators may read the audit log."))
    events = (
        db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(500))
        .scalars()
        .all()
    )
    return render_template("admin/audit.html", events=events)
