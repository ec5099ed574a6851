"""The Han font's chunks and stylesheet, from our own origin (CSP: fonts from 'self').

Chunk names carry a hash of their bytes, so they are cached for a year as immutable; the
stylesheet that names them is revalidated hourly. Anyone may load them (CORS), since the
embeddable viewer runs in a sandboxed frame whose origin is opaque.
"""

from __future__ import annotations

from flask import abort, send_from_directory
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ..han_font import FOLDER, STYLESHEET
from .blueprint import bp

YEAR = 365 * 86400


@bp.get("/fonts/han/<path:name>")
def han_font(name: str) -> Response:
    if not (FOLDER / STYLESHEET).is_file():
        abort(404, _("The Han font is not built yet; run make."))
    immutable = name.endswith(".woff2")
    response = send_from_directory(FOLDER, name, max_age=YEAR if immutable else 3600)
    if immutable:
        response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
