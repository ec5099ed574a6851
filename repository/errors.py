"""One place that turns every refusal into a clear page or plain text, never a trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def _wants_text() -> bool:
    return request.path.startswith(("/iiif/", "/oai", "/auth/token"))


def render_error(status: int, title: str, message: str) -> tuple[str, int, dict[str, str]]:
    if _wants_text():
        return f"{message}\n", status, {"Content-Type": "text/plain; charset=utf-8"}
    return render_template("error.html", status=status, title=title, message=message), status, {}


def _reset_database(drop_connections: bool = False) -> None:
    """Roll back this request's transaction, so the error page itself can be drawn.

    After a refusal from the database itself, also drop pooled connections (PostgreSQL
    keeps a pool; SQLite opens one per use): only new ones see it as it is now.
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
        titles = {
            400: _("Bad request"),
            403: _("Not allowed"),
            404: _("Not found"),
            405: _("Method not allowed"),
            413: _("Upload too large"),
        }
        message = error.description or ""
        if status == 404 and not _wants_text():
            message = _("There is nothing at this address.")
        return render_error(status, titles.get(status, _("Error")), message)

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
        _reset_database()
        log.exception("unhandled error on %s", request.path)
        return render_error(
            500,
            _("Something went wrong"),
            _("The server could not finish this request. It has been logged."),
        )
