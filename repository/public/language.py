"""The language switch: the reader's choice, kept in the session."""

from __future__ import annotations

from flask import redirect, request, session, url_for
from werkzeug.wrappers import Response

from ..settings import current_settings
from ..web import safe_next
from .blueprint import bp


@bp.get("/lang/<code>")
def set_language(code: str) -> Response:
    if code in current_settings().languages:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("public.index")))
