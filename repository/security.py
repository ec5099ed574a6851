"""What a browser may do with our pages, and which secrets the repository may start with.

Every HTML page gets a Content-Security-Policy whose scripts are our files and the one
inline script that carries this response's nonce. Pages that run Mirador or Universal
Viewer need more: their style libraries inject <style> elements, and a partner's
manifest brings images from servers we cannot list. The embeddable viewer pages show
third-party manifests on our origin, so for those the policy also sandboxes the page
into an origin of its own: a hostile manifest can neither read our cookies nor call
our APIs as the reader.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, request
from flask.signals import before_render_template
from flask.wrappers import Response
from jinja2 import Template
from werkzeug.routing import IntegerConverter, Map

from image_server.policy import origin_of
from image_server.secrecy import check_secret, check_token_keys

from .settings import settings_of

# Embedded third-party content may run scripts, open pop-ups (IIIF Auth sign-in, links)
# and downloads, but never as our origin: no allow-same-origin.
SANDBOX = "allow-scripts allow-popups allow-popups-to-escape-sandbox allow-forms allow-downloads"
# Anything that is not a page: nothing may load from it or frame it.
NOT_A_PAGE = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# Answers a IIIF viewer on any site loads in a hidden frame (Auth 1.0 token service);
# the token itself is posted only to the origin that asked.
FRAMED_BY_ANY_SITE = frozenset({"auth.iiif_token", "auth.iiif2_token"})
# The largest id a 64-bit database column holds: SQLite and PostgreSQL refuse bigger ones.
MAX_DATABASE_INT = 2**63 - 1
# Where `create_app` keeps the secrets it generates (strong, so not checked again).
GENERATED_SECRET_FILES = {"SECRET_KEY": "secret_key", "ACCESS_TOKEN_KEYS": "access_token_keys.json"}


class DatabaseInteger(IntegerConverter):
    """<int:…> in our routes: a number the database can compare, else no route (404)."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_DATABASE_INT,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


@dataclass(frozen=True, slots=True)
class Origins:
    """Our own origins: the site's (PUBLIC_URL) and the image server's (IMAGE_URL)."""

    site: str
    images: str


@dataclass(frozen=True, slots=True)
class ViewerPage:
    """A page that runs Mirador or Universal Viewer on one manifest."""

    manifest_url: str
    embeddable: bool = False  # partners frame it on their own sites


def content_policy(
    nonce: str, origins: Origins, viewer: ViewerPage | None = None, framed_by_any: bool = False
) -> str:
    """The Content-Security-Policy of an HTML page."""
    ours = viewer is None or origin_of(viewer.manifest_url) == origins.site
    # A partner's manifest names its own image servers and IIIF Auth services.
    partners = ["https:", "http:"] if viewer is not None and (viewer.embeddable or not ours) else []
    images = [origins.images] if origins.images else []
    directives = [
        ("default-src", ["'self'"]),
        # Neither Mirador nor Universal Viewer needs 'unsafe-eval' (checked in Chromium).
        ("script-src", ["'self'", f"'nonce-{nonce}'"]),
        ("style-src", ["'self'", "'unsafe-inline'"] if viewer else ["'self'"]),
        ("img-src", ["'self'", "data:", "blob:", *images, *partners]),
        ("font-src", ["'self'"]),  # the Han font's chunks, from our origin only
        ("connect-src", ["'self'", *images, *partners]),
        # IIIF Auth 1.0 token services are loaded in a hidden frame.
        ("frame-src", ["'self'", *partners]),
        ("object-src", ["'none'"]),
        ("base-uri", ["'none'"]),
        ("form-action", ["'self'"]),
        ("frame-ancestors", ["*"] if framed_by_any else ["'self'"]),
    ]
    if viewer is not None and viewer.embeddable and not ours:
        directives.append(("sandbox", [SANDBOX]))
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives)


def csp_nonce() -> str:
    """This response's script nonce, made on first use; templates call it as csp_nonce()."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    nonce: str = g.csp_nonce
    return nonce


def show_viewer(page: ViewerPage) -> None:
    """Say that this response's page runs a viewer; call it before rendering."""
    g.viewer_page = page


def _noticed_viewer(
    sender: Flask, template: Template, context: dict[str, Any], **extra: Any
) -> None:
    """A page rendered with a manifest_url runs Mirador on it (the item page does)."""
    if context.get("manifest_url") and "viewer_page" not in g:
        show_viewer(ViewerPage(str(context["manifest_url"])))


def refuse_nul() -> None:
    """A path holding a NUL character names nothing of ours (ids never hold one), and
    PostgreSQL refuses NUL in any string (a 500): such a path is a 404 before any query.
    Query strings and forms keep their own answers (OAI-PMH's badArgument, a search that
    finds nothing), which their tests check on both databases."""
    if "\x00" in request.path:
        abort(404)


def init_security(app: Flask) -> None:
    """Send a Content-Security-Policy, nosniff and a referrer policy with every response.

    Reads PUBLIC_URL (which manifests are our own) and IMAGE_URL (where pages load images
    and info.json from), once, from the settings.
    """
    settings = settings_of(app)
    origins = Origins(origin_of(settings.public_url), origin_of(settings.image_url))
    app.context_processor(lambda: {"csp_nonce": csp_nonce})
    before_render_template.connect(_noticed_viewer, app)
    app.before_request(refuse_nul)

    @app.after_request
    def secure_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if response.mimetype == "text/html":
            viewer: ViewerPage | None = g.get("viewer_page")
            framed = request.endpoint in FRAMED_BY_ANY_SITE or bool(viewer and viewer.embeddable)
            policy = content_policy(csp_nonce(), origins, viewer, framed_by_any=framed)
            headers.setdefault("Content-Security-Policy", policy)
        elif response.mimetype != "application/pdf":  # browsers' PDF viewers need their own
            headers.setdefault("Content-Security-Policy", NOT_A_PAGE)
        return response


def check_secrets(app: Flask, instance: Path) -> None:
    """Refuse to start with a placeholder or weak secret from configuration.

    Reads SECRET_KEY, ACCESS_TOKEN_KEYS, and OIDC_CLIENT_SECRET when OIDC_ISSUER is set;
    skipped when TESTING is true. The secrets create_app generated into the instance
    folder are strong and not checked again.
    """
    config = app.config
    if config.get("TESTING"):
        return

    def generated(key: str) -> str | None:
        path = instance / GENERATED_SECRET_FILES[key]
        return path.read_text().strip() if path.is_file() else None

    secret_key = config["SECRET_KEY"]
    if isinstance(secret_key, bytes):
        secret_key = secret_key.decode("latin-1")
    if secret_key != generated("SECRET_KEY"):
        check_secret("TANGTHU_SECRET_KEY", str(secret_key))
    if config["ACCESS_TOKEN_KEYS"] != generated("ACCESS_TOKEN_KEYS"):
        check_token_keys("TANGTHU_ACCESS_TOKEN_KEYS", config["ACCESS_TOKEN_KEYS"])
    if config.get("OIDC_ISSUER") and config.get("OIDC_CLIENT_SECRET"):
        check_secret("TANGTHU_OIDC_CLIENT_SECRET", str(config["OIDC_CLIENT_SECRET"]))
