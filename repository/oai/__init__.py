"""OAI-PMH 2.0 at /oai, for partner libraries and union catalogues to harvest from."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, request

from ..extensions import csrf
from ..services.oai import OaiSettings, pick, respond
from ..web import public_urls

bp = Blueprint("oai", __name__)
csrf.exempt(bp)  # harvesters POST forms without a session, and change nothing


def oai_settings() -> OaiSettings:
    """The repository's name, address and secret, and the page size, from the config."""
    config = current_app.config
    emails = config.get("OAI_ADMIN_EMAIL") or ()
    if isinstance(emails, str):
        emails = tuple(e.strip() for e in emails.split(",") if e.strip())
    return OaiSettings(
        urls=public_urls(),
        repository_name=pick(config["LIBRARY_NAME"], "Tàng Thư"),
        secret_key=str(config["SECRET_KEY"]),
        default_rights=str(config.get("DEFAULT_RIGHTS") or ""),
        admin_emails=tuple(emails),
        page_size=int(config.get("OAI_PAGE_SIZE", 100)),
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
