"""Sign in and out with a password, the session, and the image-access cookie."""

from __future__ import annotations

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from image_server import tokens

from .. import get_storage
from ..models import User
from ..services.access import portable_credentials
from ..services.accounts import LockedOut, Lockout, authenticate, revoke_access
from ..services.audit import record
from ..settings import current_settings
from ..web import client_address, current_viewer, safe_next
from .blueprint import bp


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


def access_keys() -> tokens.Keys:
    keys: tokens.Keys = current_app.extensions["tangthu.token_keys"]
    return keys


def access_token() -> str:
    """A signed token of the current reader's portable credentials and epoch, for the
    image server (never the reading room: that is checked from each request's address)."""
    signed_in = current_user.is_authenticated and not current_user.disabled
    return tokens.issue(
        access_keys(),
        current_user.username if signed_in else "anonymous",
        portable_credentials(current_viewer()),
        current_settings().access_token_lifetime,
        current_settings().public_url,
        epoch=current_user.access_epoch if signed_in else 0,
    )


def set_access_cookie(response: Response) -> Response:
    """The image server reads this cookie on tile requests (same host, or a parent domain)."""
    settings = current_settings()
    response.set_cookie(
        settings.access_cookie,
        access_token(),
        max_age=settings.access_token_lifetime,
        domain=settings.access_cookie_domain,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="Lax",
    )
    return response


def clear_access_cookie(response: Response) -> Response:
    settings = current_settings()
    response.delete_cookie(settings.access_cookie, domain=settings.access_cookie_domain)
    return response


def finish_sign_in(user: User, method: str) -> Response:
    """Sign the user in, note it in the audit log, set the access cookie, go on."""
    login_user(user)
    session.permanent = True
    record("login", user.username, detail=method, address=client_address())
    target = safe_next(
        session.pop("next", None) or request.args.get("next"), url_for("public.index")
    )
    return set_access_cookie(redirect(target))


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    form = LoginForm()
    if form.validate_on_submit():
        settings = current_settings()
        lockout = Lockout(settings.login_max_failures, settings.login_lockout_minutes)
        username = form.username.data or ""
        try:
            user = authenticate(username, form.password.data or "", lockout, client_address())
        except LockedOut as exc:
            record("login-locked", username, address=client_address())
            form.password.errors.append(
                _(
                    "Too many failed sign-ins for this account. Try again in %(minutes)d minutes.",
                    minutes=exc.minutes,
                )
            )
            return render_template("auth/login.html", form=form), exc.status
        if user is not None:
            return finish_sign_in(user, "password")
        record("login-failed", username, address=client_address())
        form.password.errors.append(_("Wrong username or password."))
    return render_template("auth/login.html", form=form)


def end_session() -> None:
    """Sign the reader out everywhere: audit it, advance their epoch (so a copied session
    or access cookie opens nothing any more), and forget the login here.

    The caller still clears the access cookie on its own response."""
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        record("logout", user.username, address=client_address())
        revoke_access(user, get_storage(), current_settings().access_token_lifetime)
    logout_user()
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


@bp.post("/logout")
def logout() -> Response:
    end_session()
    flash(_("You have signed out."))
    return clear_access_cookie(redirect(url_for("public.index")))
