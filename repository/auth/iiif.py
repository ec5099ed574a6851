"""IIIF Authorization Flow 2.0 and Auth 1.0 services, both from the same access decision.

Mirador 3 and 4 speak only Auth 1.0; current clients speak 2.0. Either way the reader
signs in through our own login page in a pop-up window, and the token service hands the
viewer page a signed access token by postMessage, only to the origin that asked.
"""

from __future__ import annotations

import re
from typing import Any

from flask import (
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from ..services.access import portable_credentials
from ..settings import current_settings
from ..web import current_viewer
from .blueprint import bp
from .signin import access_token, clear_access_cookie, end_session, set_access_cookie

AUTH1_CONTEXT = "http://iiif.io/api/auth/1/context.json"
AUTH2_CONTEXT = "http://iiif.io/api/auth/2/context.json"
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]{1,253}(:\d{1,5})?$")
# Any printable text (Mirador sends the token service's own URL); it is echoed only
# through JSON encoding in the page, so it cannot break out of the script.
_MESSAGE_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,512}$")


def checked_origin() -> str:
    origin = request.args.get("origin", "")
    if not _ORIGIN.match(origin):
        abort(400, _("The viewer did not say which site it is on."))
    return origin


def trusted(origin: str) -> bool:
    """Our own site and the partners named in PARTNER_ORIGINS may receive tokens."""
    return origin.lower().rstrip("/") in current_settings().trusted_origins


def _close_window() -> BaseResponse:
    """The pop-up's last page: it closes itself so the viewer can ask for a token."""
    return set_access_cookie(Response(render_template("auth/close.html")))


@bp.get("/iiif/login")
@bp.get("/iiif2/login")
def iiif_login() -> BaseResponse:
    """Auth 1.0 login service and Auth 2.0 access service: our own sign-in page."""
    if current_user.is_authenticated:
        return _close_window()
    return redirect(url_for("auth.login", next=request.full_path))


@bp.get("/iiif/external")
def iiif_external() -> Response:
    """Auth 1.0 external service: nothing to do here; the reading room is its address."""
    return Response(render_template("auth/close.html"))


@bp.get("/iiif/kiosk")
def iiif_kiosk() -> Response:
    """Auth 1.0 kiosk service: a terminal in the reading room needs no sign-in.

    Nothing is remembered: the reading room is judged from each request's address, by
    this app and by the image server, so access cannot leave the room."""
    if not current_viewer().onsite:
        abort(403, _("On-site access works only in the reading room."))
    return Response(render_template("auth/close.html"))


def _token_reply(message: dict[str, Any], error: dict[str, Any]) -> Response:
    """The token (or the error) as JSON, or by postMessage to a trusted origin only."""
    message_id = request.args.get("messageId")
    if message_id is None:  # a non-browser client: plain JSON (Auth 1.0 §2.3)
        response = jsonify(message)
        if "accessToken" not in message:
            response.status_code = 401
        response.headers["Cache-Control"] = "no-store"
        return response
    if not _MESSAGE_ID.match(message_id):
        abort(400, _("The viewer sent a malformed message id."))
    origin = checked_origin()
    if not trusted(origin):
        message = error  # Auth 1.0 §2.3.4, Auth 2.0 §3.2.3: invalidOrigin
    message["messageId"] = message_id
    page = render_template("auth/token.html", message=message, origin=origin)
    response = Response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


def _has_portable_access() -> bool:
    return bool(portable_credentials(current_viewer()))


@bp.get("/iiif/token")
def iiif_token() -> Response:
    """Auth 1.0 token service: a token for info.json, for signed-in readers."""
    invalid_origin = {
        "error": "invalidOrigin",
        "description": _("This site may not receive access tokens."),
    }
    if not _has_portable_access():
        return _token_reply(
            {"error": "missingCredentials", "description": _("Sign in to see this item.")},
            invalid_origin,
        )
    lifetime = current_settings().access_token_lifetime
    return _token_reply({"accessToken": access_token(), "expiresIn": lifetime}, invalid_origin)


def _auth2_error(profile: str, note: str) -> dict[str, Any]:
    return {
        "@context": AUTH2_CONTEXT,
        "type": "AuthAccessTokenError2",
        "profile": profile,
        "note": {"en": [note]},
    }


@bp.get("/iiif2/token")
def iiif2_token() -> Response:
    """Auth 2.0 access token service."""
    invalid_origin = _auth2_error("invalidOrigin", "This site may not receive access tokens.")
    if not _has_portable_access():
        return _token_reply(
            _auth2_error("missingAspect", "Sign in to see this item."), invalid_origin
        )
    lifetime = current_settings().access_token_lifetime
    token = {
        "@context": AUTH2_CONTEXT,
        "type": "AuthAccessToken2",
        "accessToken": access_token(),
        "expiresIn": lifetime,
    }
    return _token_reply(token, invalid_origin)


@bp.get("/iiif/logout")
@bp.get("/iiif2/logout")
def iiif_logout() -> BaseResponse:
    """Auth 1.0 and 2.0 logout service."""
    end_session()
    return clear_access_cookie(Response(render_template("auth/signed_out.html")))
