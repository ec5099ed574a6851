"""OAI-PMH 2.0 at /oai, for partner libraries and union catalogues to harvest from."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, request

from ..services.oai import OaiSettings, pick, respond
from ..settings import current_settings

bp = Blueprint("oai", __name__)  # exempt from CSRF checks in the factory: see create_app


def oai_settings() -> OaiSettings:
    """The repository's name, address and secret, and the page size, from the settings."""
    settings = current_settings()
    return OaiSettings(
        urls=settings.urls,
        repository_name=pick(settings.library_name, "Tàng Thư"),
        secret_key=settings.secret_key,
        default_rights=settings.default_rights,
        admin_emails=settings.oai_admin_emails,
        page_size=settings.oai_page_size,
    )


@bp.route("/oai", methods=["GET", "POST"])
def endpoint() -> Response:
    """Arguments from the query (GET) or the form body (POST); always an XML answer."""
    source = request.form if request.method == "POST" else request.args
    body = respond(list(source.items(multi=True)), oai_settings(), datetime.now(UTC))
    response = Response(body, content_type="text/xml; charset=utf-8")
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "no-store"
    return response
