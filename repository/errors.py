"""One place that turns every refusal into a clear page, plain text or JSON, never a trace.

Services refuse with the family in ``services/errors.py``; each carries its status and
reasons, and ``service_error`` below renders it (the command line prints the same errors
through ``repository/cli``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .services.errors import ServiceError, Unavailable

log = logging.getLogger(__name__)


def _wants_text() -> bool:
    return request.path.startswith(("/iiif/", "/oai", "/auth/token"))


def _wants_json() -> bool:
    """A script or our own upload page, asking for JSON above anything else."""
    return request.accept_mimetypes.best == "application/json"


def render_error(
    status: int, title: str, message: str, reasons: Sequence[str] = ()
) -> tuple[str, int, dict[str, str]]:
    """The refusal as plain text (IIIF, OAI and token answers), JSON, or a page."""
    shown = [reason for reason in reasons if reason != message]
    if _wants_text():
        text = "\n".join([message, *shown])
        return f"{text}\n", status, {"Content-Type": "text/plain; charset=utf-8"}
    if _wants_json():
        body = {"status": status, "title": title, "message": message, "reasons": list(reasons)}
        return json.dumps(body, ensure_ascii=False), status, {"Content-Type": "application/json"}
    page = render_template("error.html", status=status, title=title, message=message, reasons=shown)
    return page, status, {}


def _titles() -> dict[int, str]:
    """Headings of refusals by status, in the reader's language."""
    return {
        400: _("Bad request"),
        403: _("Not allowed"),
        404: _("Not found"),
        405: _("Method not allowed"),
        409: _("Not possible now"),
        413: _("Too large"),
        422: _("Refused"),
        429: _("Too many attempts"),
        503: _("Unavailable"),
    }


def _reset_database(drop_connections: bool = False) -> None:
    """Roll back this request's transaction, so the error page itself can be drawn.

    After a refusal from the database itself, also drop pooled connections (SQLite's are
    also dropped as the refusal is raised: extensions.keep_connections): only new ones see
    it as it is now.
    """
    from .extensions import db

    try:
        db.session.rollback()
        if drop_connections:
            db.engine.dispose()
    except Exception:  # noqa: BLE001 - the page must still be drawn
        log.exception("could not reset the database session")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int, dict[str, str]]:
        message = _("The form expired or lacked its security token. Reload it and try again.")
        return render_error(400, _("Form expired"), message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int, dict[str, str]]:
        status = error.code or 500
        titles = {**_titles(), 413: _("Upload too large")}  # Flask's 413 is always an upload
        message = error.description or ""
        if status == 404 and not _wants_text():
            message = _("There is nothing at this address.")
        return render_error(status, titles.get(status, _("Error")), message)

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError) -> tuple[str, int, dict[str, str]]:
        """A service's refusal: its own status, its message and every reason behind it."""
        _reset_database()  # what the refused change had begun is not kept
        title = _titles().get(error.status, _("Error"))
        body, status, headers = render_error(error.status, title, error.message, error.reasons)
        if isinstance(error, Unavailable):
            headers = {**headers, "Retry-After": str(error.retry_after)}
        return body, status, headers

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError) -> tuple[str, int, dict[str, str]]:
        """The database refused (read-only, full, locked, gone): nothing was saved."""
        log.error("database unavailable on %s: %s", request.path, error.orig)
        _reset_database(drop_connections=True)
        body, status, headers = render_error(
            503,
            _("Cannot save right now"),
            _(
                "The catalogue cannot be changed at the moment, so nothing was saved. "
                "Reading still works. Please try again in a few minutes."
            ),
        )
        return body, status, {**headers, "Retry-After": "60"}

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int, dict[str, str]]:
        if isinstance(error, HTTPException):
            return http_error(error)
        if isinstance(error, ServiceError):
            return service_error(error)
        _reset_database()
        log.exception("unhandled error on %s", request.path)
        return render_error(
            500,
            _("Something went wrong"),
            _("The server could not finish this request. It has been logged."),
        )
