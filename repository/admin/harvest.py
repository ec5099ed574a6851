"""Partners' OAI-PMH endpoints in the admin: add, change, delete and harvest them.

An address is checked as every fetch of it is (services.harvest.check_source_url): http(s)
only, and never our own networks unless the deployment allows them. "Harvest now" puts
the same job on the queue as `tangthu harvest --all --queue` (which leaves disabled sources
out); each source's own "Harvest now", the job for that source alone."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from ..extensions import db
from ..jobs import submit
from ..models import Collection, HarvestSource, Job
from ..services.audit import record
from ..services.errors import ServiceError
from ..services.harvest import (
    SourceSpec,
    delete_source,
    harvestable,
    save_source,
    set_source_enabled,
)
from ..settings import current_settings
from ..web import client_address, localized
from .blueprint import bp
from .forms import ConfirmForm, HarvestSourceForm
from .tasks import STATES

NEW_COLLECTION = 0  # the form's choice for a new collection named harvest-<host>


def _offer_collections(form: HarvestSourceForm) -> None:
    collections = db.session.execute(db.select(Collection).order_by(Collection.slug)).scalars()
    form.collection.choices = [
        (NEW_COLLECTION, _("A new collection (harvest-<host>)")),
        *[(c.id, localized(c.title) or c.slug) for c in collections],
    ]


def _spec(form: HarvestSourceForm) -> SourceSpec:
    chosen = form.collection.data or NEW_COLLECTION
    return SourceSpec(
        (form.url.data or "").strip(),
        (form.institution.data or "").strip(),
        (form.set_spec.data or "").strip(),
        None if chosen == NEW_COLLECTION else chosen,
    )


def _refused(form: HarvestSourceForm, refused: ServiceError) -> int:
    """The refusal next to the address, in the reader's language with its reason."""
    db.session.rollback()
    reason = _("This address cannot be harvested: %(reason)s", reason=refused.message)
    form.url.errors = [*form.url.errors, reason]
    return refused.status


def _save(form: HarvestSourceForm, source: HarvestSource | None) -> HarvestSource | int:
    """The saved source, or the status of the refusal now shown on the form."""
    try:
        saved = save_source(_spec(form), current_settings().harvest_allow_networks, source)
    except ServiceError as refused:
        return _refused(form, refused)
    action = "harvest-source-added" if source is None else "harvest-source-changed"
    record(action, current_user.username, saved.url, saved.set_spec, client_address())
    return saved


@bp.route("/harvest", methods=["GET", "POST"])
def harvest_sources() -> tuple[str, int] | Response:
    """Every source with its last run's result, and a form for a new one."""
    form = HarvestSourceForm()
    _offer_collections(form)
    status = 200
    if form.validate_on_submit():
        saved = _save(form, None)
        if isinstance(saved, HarvestSource):
            flash(_("Harvest source added: %(url)s", url=saved.url))
            return redirect(url_for("admin.harvest_sources"))
        status = saved
    elif form.is_submitted():
        status = 422
    sources = db.session.execute(
        db.select(HarvestSource)
        .options(selectinload(HarvestSource.collection))
        .order_by(HarvestSource.id)
    ).scalars()
    last_job = db.session.execute(
        db.select(Job).filter_by(kind="harvest").order_by(Job.id.desc()).limit(1)
    ).scalar()
    return render_template(
        "admin/harvest.html",
        form=form,
        sources=list(sources),
        job=last_job,
        states=STATES,
        confirm=ConfirmForm(),
    ), status


@bp.route("/harvest/<int:source_id>", methods=["GET", "POST"])
def harvest_source(source_id: int) -> tuple[str, int] | Response:
    source = db.get_or_404(HarvestSource, source_id)
    form = HarvestSourceForm(
        data={
            "url": source.url,
            "institution": source.institution,
            "set_spec": source.set_spec,
            "collection": source.collection_id,
        }
    )
    _offer_collections(form)
    status = 200
    if form.validate_on_submit():
        saved = _save(form, source)
        if isinstance(saved, HarvestSource):
            flash(_("Harvest source saved: %(url)s", url=saved.url))
            return redirect(url_for("admin.harvest_sources"))
        status = saved
    elif form.is_submitted():
        status = 422
    return render_template(
        "admin/harvest_edit.html", form=form, source=source, confirm=ConfirmForm()
    ), status


@bp.post("/harvest/<int:source_id>/delete")
def harvest_source_delete(source_id: int) -> Response:
    source = db.get_or_404(HarvestSource, source_id)
    url = source.url
    kept = delete_source(source)
    record("harvest-source-deleted", current_user.username, url, f"{kept} records kept")
    flash(_("Harvest source deleted; the %(num)d records it brought stay.", num=kept))
    return redirect(url_for("admin.harvest_sources"))


@bp.post("/harvest/run")
def harvest_now() -> Response:
    """Queue a harvest of every source, as `tangthu harvest --all --queue` does."""
    job = submit("harvest", {"full": False})
    record("harvest-queued", current_user.username, f"job {job.id}", "", client_address())
    flash(_("The harvest is queued as task %(id)d; the Tasks page shows its progress.", id=job.id))
    return redirect(url_for("admin.harvest_sources"))


@bp.post("/harvest/<int:source_id>/run")
def harvest_source_now(source_id: int) -> Response:
    """Queue a harvest of this source alone; a disabled one is refused."""
    db.get_or_404(HarvestSource, source_id)
    try:
        source = harvestable(source_id)
    except ServiceError:
        flash(_("This source is disabled: enable it to harvest it."))
        return redirect(url_for("admin.harvest_sources"))
    job = submit("harvest", {"full": False, "source_id": source.id})
    record(
        "harvest-queued", current_user.username, source.url[:120], f"job {job.id}", client_address()
    )
    flash(_("The harvest is queued as task %(id)d; the Tasks page shows its progress.", id=job.id))
    return redirect(url_for("admin.harvest_sources"))


@bp.post("/harvest/<int:source_id>/disable")
def harvest_source_disable(source_id: int) -> Response:
    """Leave the source out of every harvest until it is enabled again."""
    source = db.get_or_404(HarvestSource, source_id)
    set_source_enabled(source, False, current_user.username, client_address())
    flash(_("Harvest source disabled: %(url)s", url=source.url))
    return redirect(url_for("admin.harvest_sources"))


@bp.post("/harvest/<int:source_id>/enable")
def harvest_source_enable(source_id: int) -> Response:
    source = db.get_or_404(HarvestSource, source_id)
    set_source_enabled(source, True, current_user.username, client_address())
    flash(_("Harvest source enabled: %(url)s", url=source.url))
    return redirect(url_for("admin.harvest_sources"))
