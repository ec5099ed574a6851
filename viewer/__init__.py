"""Mirador 4, Universal Viewer and Clover, installed from npm and served locally, and the
embeddable viewer pages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from flask import Blueprint, abort, render_template, request, send_from_directory
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from repository.extensions import db
from repository.models import ITEM_ID, Item
from repository.security import ViewerPage, show_viewer
from repository.services.access import Access, public_access
from repository.web import public_urls

HERE = Path(__file__).resolve().parent
MIRADOR_DIST = HERE / "node_modules" / "mirador" / "dist"
UV_DIST = HERE / "node_modules" / "universalviewer" / "dist"
# Clover's web component: one prebuilt script (Preact inside), no React page needed.
CLOVER_DIST = HERE / "node_modules" / "@samvera" / "clover-iiif" / "dist" / "web-components"
MAX_URL = 2000

bp = Blueprint(
    "viewer",
    __name__,
    url_prefix="/viewer",
    template_folder="templates",
    static_folder="static",
)


def checked_manifest_url(url: str | None) -> str:
    """A partner's manifest URL: absolute http(s), sensible length, no tricks."""
    if not url:
        abort(400, _("Give the manifest to show as ?manifest=<URL>."))
    parsed = urlparse(url)
    if len(url) > MAX_URL or parsed.scheme not in ("http", "https") or not parsed.netloc:
        abort(400, _("The manifest must be an http or https URL."))
    if any(ch in url for ch in "\"'<> \\") or any(ord(ch) < 32 for ch in url):
        abort(400, _("The manifest URL contains characters that are not allowed."))
    return url


def _installed(folder: Path, filename: str, missing: str) -> Response:
    """A file of a viewer installed from npm, cached for a week; 404 until `make` ran."""
    if not folder.is_dir():
        abort(404, missing)
    return send_from_directory(folder, filename, max_age=7 * 86400)


def _viewer_page(template: str) -> str:
    """A viewer on a page of its own for any partner's manifest, framable by partners."""
    manifest = checked_manifest_url(request.args.get("manifest"))
    show_viewer(ViewerPage(manifest, embeddable=True))
    return render_template(template, manifest_url=manifest, image_base=_credentials_for(manifest))


def _credentials_for(manifest: str) -> str:
    """Our image server's address when the manifest is one of our items whose images are
    not open to everyone: requests to it then carry the reader's cookie, so tiles load
    once they sign in through the viewer's IIIF Auth prompt (as on the item page). Open
    images and partners' manifests get plain requests, which work from any frame."""
    urls = public_urls()
    for prefix in (f"{urls.base}/iiif/2/", f"{urls.base}/iiif/"):
        if manifest.startswith(prefix) and manifest.endswith("/manifest"):
            item_id = unquote(manifest[len(prefix) : -len("/manifest")])
            break
    else:
        return ""
    if not ITEM_ID.fullmatch(item_id):
        return ""
    item = db.session.get(Item, item_id)
    if item is None or public_access(item) is Access.FULL:
        return ""
    return urls.image_url


@bp.get("/mirador/<path:filename>")
def mirador(filename: str) -> Response:
    return _installed(MIRADOR_DIST, filename, _("Mirador is not installed; run make."))


@bp.get("/uv-dist/<path:filename>")
def uv_files(filename: str) -> Response:
    return _installed(UV_DIST, filename, _("Universal Viewer is not installed; run make."))


@bp.get("/embed")
def embed() -> str:
    """Mirador on a page of its own, for partners' iframes."""
    return _viewer_page("viewer/embed.html")


@bp.get("/uv")
def universal_viewer() -> str:
    """The same manifest in Universal Viewer 4, for partners who use it."""
    return _viewer_page("viewer/uv.html")


@bp.get("/clover-dist/<path:filename>")
def clover_files(filename: str) -> Response:
    return _installed(CLOVER_DIST, filename, _("Clover is not installed; run make."))


@bp.get("/clover")
def clover() -> str:
    """The same manifest in Samvera's Clover IIIF, for partners who use it."""
    return _viewer_page("viewer/clover.html")
