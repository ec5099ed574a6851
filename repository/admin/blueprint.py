"""The admin blueprint, and what every view of it requires: a signed-in curator."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_babel import gettext as _
from flask_login import current_user, login_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def require_staff() -> None:
    if not current_user.is_staff:
        abort(403, _("Only curators and administrators may use the admin."))


# Sign-in first (Flask-Login's decorator, untyped, so not used as one), then the role.
bp.before_request(login_required(require_staff))
