"""Accounts and reader groups in the admin: the same services, and so the same refusals,
as `tangthu create-user` and `tangthu group`. Only an administrator makes staff."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from .. import get_storage
from ..extensions import db
from ..models import ReaderGroup, User
from ..services.accounts import (
    GroupLabels,
    Manager,
    NewUser,
    create_account,
    create_group,
    delete_group,
    group_impact,
    is_disabled,
    rename_group,
    set_disabled,
    set_membership,
    set_role,
)
from ..services.errors import ServiceError
from ..settings import current_settings
from ..web import client_address, localized, publish_settings
from .blueprint import bp
from .forms import ROLE_CHOICES, ConfirmForm, GroupForm, MembershipForm, RoleForm, UserForm

PER_PAGE = 50
ROLE_NAMES = {choice.value: choice.label for choice in ROLE_CHOICES}


def _manager() -> Manager:
    return Manager(current_user.username, current_user.role, client_address())


def _lifetime() -> int:
    return current_settings().access_token_lifetime


def _show_refusal(form: FlaskForm, refused: ServiceError) -> None:
    """Each reason next to its field; the others as a message at the top."""
    for name, message in refused.fields.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]
    if not refused.fields:
        flash(refused.message)


def _users(text: str) -> object:
    query = db.select(User).options(selectinload(User.groups)).order_by(User.username)
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(User.username.ilike(f"%{escaped}%", escape="\\"))
    return db.paginate(query, per_page=PER_PAGE, max_per_page=PER_PAGE, error_out=False)


@bp.route("/people", methods=["GET", "POST"])
def people() -> tuple[str, int] | Response:
    """Every account, searchable by name, fifty a page; and a form for a new one."""
    form = UserForm()
    status = 200
    if form.validate_on_submit():
        new = NewUser(form.username.data or "", form.password.data or "", form.role.data or "")
        try:
            user = create_account(new, _manager())
        except ServiceError as refused:
            _show_refusal(form, refused)
            status = refused.status
        else:
            flash(_("Account %(name)s created.", name=user.username))
            return redirect(url_for("admin.person", user_id=user.id))
    elif form.is_submitted():
        status = 422
    text = request.args.get("q", "").strip()[:80]
    return render_template(
        "admin/people.html",
        form=form,
        pages=_users(text),
        text=text,
        roles=ROLE_NAMES,
        is_disabled=is_disabled,
    ), status


def _person_page(user: User, status: int = 200, **forms: FlaskForm) -> tuple[str, int]:
    role_form = forms.get("role_form") or RoleForm(data={"role": user.role})
    member_form = forms.get("member_form") or MembershipForm()
    _offer_groups(member_form, user)
    return render_template(
        "admin/people_edit.html",
        user=user,
        role_form=role_form,
        member_form=member_form,
        confirm=ConfirmForm(),
        roles=ROLE_NAMES,
        disabled=is_disabled(user),
    ), status


def _offer_groups(form: MembershipForm, user: User) -> None:
    groups = db.session.execute(db.select(ReaderGroup).order_by(ReaderGroup.name)).scalars()
    form.group.choices = [
        (g.id, localized(g.label) or g.name) for g in groups if g not in user.groups
    ]


@bp.get("/people/<int:user_id>")
def person(user_id: int) -> tuple[str, int]:
    return _person_page(db.get_or_404(User, user_id))


@bp.post("/people/<int:user_id>/role")
def person_role(user_id: int) -> tuple[str, int] | Response:
    user = db.get_or_404(User, user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _person_page(user, 422, role_form=form)
    try:
        set_role(user, form.role.data or "", _manager(), get_storage(), _lifetime())
    except ServiceError as refused:
        _show_refusal(form, refused)
        return _person_page(user, refused.status, role_form=form)
    flash(
        _("The role of %(name)s is now %(role)s.", name=user.username, role=ROLE_NAMES[user.role])
    )
    return redirect(url_for("admin.person", user_id=user.id))


@bp.post("/people/<int:user_id>/groups")
def person_join(user_id: int) -> tuple[str, int] | Response:
    user = db.get_or_404(User, user_id)
    form = MembershipForm()
    _offer_groups(form, user)
    if not form.validate_on_submit():
        return _person_page(user, 422, member_form=form)
    group = db.get_or_404(ReaderGroup, form.group.data)
    try:
        set_membership(group, user, True, _manager(), get_storage(), _lifetime())
    except ServiceError as refused:
        _show_refusal(form, refused)
        return _person_page(user, refused.status, member_form=form)
    flash(_("%(name)s is now in the group %(group)s.", name=user.username, group=group.name))
    return redirect(url_for("admin.person", user_id=user.id))


@bp.post("/people/<int:user_id>/groups/<int:group_id>/leave")
def person_leave(user_id: int, group_id: int) -> tuple[str, int] | Response:
    user = db.get_or_404(User, user_id)
    group = db.get_or_404(ReaderGroup, group_id)
    try:
        set_membership(group, user, False, _manager(), get_storage(), _lifetime())
    except ServiceError as refused:
        flash(refused.message)
        return _person_page(user, refused.status)
    flash(_("%(name)s is no longer in the group %(group)s.", name=user.username, group=group.name))
    return redirect(url_for("admin.person", user_id=user.id))


@bp.post("/people/<int:user_id>/disable")
def person_disable(user_id: int) -> tuple[str, int] | Response:
    """Disable an account: no sign-in of any kind, and its sessions and tokens end now."""
    return _set_disabled(user_id, True)


@bp.post("/people/<int:user_id>/enable")
def person_enable(user_id: int) -> tuple[str, int] | Response:
    return _set_disabled(user_id, False)


def _set_disabled(user_id: int, disabled: bool) -> tuple[str, int] | Response:
    user = db.get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit() or request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm."))
        return _person_page(user, 422)
    try:
        set_disabled(user, disabled, _manager(), get_storage(), _lifetime())
    except ServiceError as refused:
        flash(refused.message)
        return _person_page(user, refused.status)
    if disabled:
        flash(_("The account %(name)s is disabled: it can no longer sign in.", name=user.username))
    else:
        flash(_("The account %(name)s is enabled: it can sign in again.", name=user.username))
    return redirect(url_for("admin.person", user_id=user.id))


def _group_rows() -> list[tuple[ReaderGroup, object]]:
    groups = db.session.execute(db.select(ReaderGroup).order_by(ReaderGroup.name)).scalars()
    return [(group, group_impact(group)) for group in groups]


@bp.route("/groups", methods=["GET", "POST"])
def groups() -> tuple[str, int] | Response:
    """Every reader group with who is in it and what it opens; and a form for a new one."""
    form = GroupForm()
    status = 200
    if form.validate_on_submit():
        spec = GroupLabels(form.name.data or "", form.label_vi.data or "", form.label_en.data or "")
        try:
            group = create_group(spec, _manager())
        except ServiceError as refused:
            _show_refusal(form, refused)
            status = refused.status
        else:
            flash(_("Group %(name)s created.", name=group.name))
            return redirect(url_for("admin.groups"))
    elif form.is_submitted():
        status = 422
    return render_template("admin/groups.html", form=form, rows=_group_rows()), status


@bp.route("/groups/<int:group_id>", methods=["GET", "POST"])
def group_edit(group_id: int) -> tuple[str, int] | Response:
    group = db.get_or_404(ReaderGroup, group_id)
    form = GroupForm(
        data={
            "name": group.name,
            "label_vi": group.label.get("vi", ""),
            "label_en": group.label.get("en", ""),
        }
    )
    status = 200
    if form.validate_on_submit():
        spec = GroupLabels(form.name.data or "", form.label_vi.data or "", form.label_en.data or "")
        try:
            rename_group(group, spec, _manager())
        except ServiceError as refused:
            db.session.rollback()
            _show_refusal(form, refused)
            status = refused.status
        else:
            flash(_("Group %(name)s saved.", name=group.name))
            return redirect(url_for("admin.groups"))
    elif form.is_submitted():
        status = 422
    return render_template("admin/groups_edit.html", form=form, group=group), status


@bp.route("/groups/<int:group_id>/delete", methods=["GET", "POST"])
def group_delete(group_id: int) -> str | Response:
    """Ask first, saying how many readers, collections and items the group's loss changes."""
    group = db.get_or_404(ReaderGroup, group_id)
    form = ConfirmForm()
    if form.validate_on_submit() and request.form.get("confirm") == "yes":
        name = group.name
        delete_group(group, _manager(), get_storage(), _lifetime(), publish_settings())
        flash(_("Group %(name)s deleted.", name=name))
        return redirect(url_for("admin.groups"))
    return render_template(
        "admin/groups_delete.html", form=form, group=group, impact=group_impact(group)
    )
