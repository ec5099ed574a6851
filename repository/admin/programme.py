"""Digitisation progress against the national programme: holdings, dashboard and report."""

from __future__ import annotations

from datetime import date

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice

from ..extensions import db
from ..models import Collection
from ..services import programme
from ..services.errors import ServiceError
from ..services.programme import report
from ..settings import current_settings
from ..web import localized
from .blueprint import bp

# The reports' own few rules, served from our origin (the pages' CSP allows no inline style):
# wide tables become labelled rows on phones, charts keep a readable size, print drops chrome.
REPORT_CSS = """
figure.chart { margin: 1rem 0; }
figure.chart svg { width: 100%; max-width: 44rem; height: auto; }
form.period { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
table.programme tr.total td { font-weight: 600; }
@media (max-width: 48rem) {
  table.programme thead, table.usage thead { display: none; }
}
@media print {
  header.site, footer.site, form.period, p.actions, .skip { display: none; }
  table.collections td::before { content: none; }
  figure.chart { break-inside: avoid; }
}
"""


def category_choices() -> list[SelectChoice]:
    return [SelectChoice(c.value, programme.CATEGORY_LABELS[c]) for c in programme.Category]


class HoldingsForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    category = SelectField(_l("Category"), validate_choice=False)
    titles = StringField(_l("Titles held"))
    pages = StringField(_l("Pages held"))
    counted_on = StringField(_l("Day counted (YYYY-MM-DD)"))
    note = TextAreaField(_l("Note"))


class CategoryForm(FlaskForm):  # type: ignore[misc]
    category = SelectField(_l("Category"), validate_choice=False)


def period() -> tuple[date, date]:
    """The period asked for (?start=&end=, days as YYYY-MM-DD): this year by default."""
    today = date.today()
    try:
        end = date.fromisoformat(request.args.get("end") or today.isoformat())
        start = date.fromisoformat(request.args.get("start") or f"{end.year}-01-01")
    except ValueError:
        abort(400, _("Give the period's days as YYYY-MM-DD."))
    if start > end:
        abort(400, _("The period starts after it ends."))
    return start, end


def _page(form: HoldingsForm, status: int = 200) -> tuple[str, int]:
    start, end = period()
    form.category.choices = category_choices()
    collections = db.session.execute(db.select(Collection).order_by(Collection.slug)).scalars()
    category_form = CategoryForm()
    category_form.category.choices = category_choices()
    page = render_template(
        "admin/programme.html",
        board=programme.dashboard(start, end),
        labels=programme.CATEGORY_LABELS,
        form=form,
        category_form=category_form,
        collections=list(collections),
    )
    return page, status


@bp.get("/programme")
def programme_dashboard() -> tuple[str, int]:
    form = HoldingsForm(counted_on=date.today().isoformat())
    return _page(form)


@bp.post("/programme/holdings")
def enter_holdings() -> Response | tuple[str, int]:
    form = HoldingsForm()
    if not form.validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    try:
        holdings = programme.parse_holdings(
            form.category.data or "",
            form.titles.data or "",
            form.pages.data or "",
            form.counted_on.data or "",
            form.note.data or "",
        )
    except ServiceError as refusal:
        for name, reason in refusal.fields.items():
            getattr(form, name).errors = [reason]
        flash(refusal.message)
        return _page(form, 400)
    programme.enter_holdings(holdings, current_user.username)
    flash(_("Holdings saved."))
    return redirect(url_for("admin.programme_dashboard"))  # type: ignore[return-value]


@bp.post("/programme/collections/<int:collection_id>/category")
def set_programme_category(collection_id: int) -> Response:
    form = CategoryForm()
    if not form.validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    programme.set_category(collection_id, form.category.data or "")  # or 400
    flash(_("Category saved."))
    return redirect(url_for("admin.programme_dashboard") + "#collections")  # type: ignore[return-value]


@bp.get("/programme/report.css")
def programme_css() -> Response:
    response = Response(REPORT_CSS, mimetype="text/css")
    response.cache_control.max_age = 3600
    return response


@bp.get("/programme/report")
def programme_report() -> str:
    """The printable report for the management agency."""
    start, end = period()
    return render_template(
        "admin/programme_report.html",
        board=programme.dashboard(start, end),
        labels=programme.CATEGORY_LABELS,
        today=date.today(),
    )


@bp.get("/programme/report.csv")
def programme_report_csv() -> Response:
    start, end = period()
    library = localized(current_settings().library_name)
    body = "\ufeff" + report.report_csv(programme.dashboard(start, end), library)
    response = Response(body, mimetype="text/csv")
    name = f"programme-{start.isoformat()}-{end.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
