"""Public pages for researchers: home, collections and items."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from markupsafe import escape

from .. import get_storage
from ..extensions import db
from ..models import Collection, Item
from ..services.access import FULL, can_see_item, public_access, visible_items
from ..services.downloads import TooLarge, item_pdf
from ..services.publish import downloadable
from ..web import current_viewer, localized, public_urls, safe_next

bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> str:
    collections = db.session.execute(db.select(Collection).order_by(Collection.id)).scalars()
    shown = []
    for collection in collections:
        items = (
            db.session.execute(
                db.select(Item)
                .where(Item.collection_id == collection.id, visible_items(current_viewer()))
                .order_by(Item.created_at)
            )
            .scalars()
            .all()
        )
        if items or current_viewer().is_staff:
            shown.append((collection, items))
    return render_template("public/index.html", collections=shown)


@bp.get("/collections/<slug>")
def collection(slug: str) -> str:
    found = db.first_or_404(db.select(Collection).filter_by(slug=slug))
    page = db.paginate(
        db.select(Item)
        .where(Item.collection_id == found.id, visible_items(current_viewer()))
        .order_by(Item.created_at),
        per_page=24,
    )
    return render_template("public/collection.html", collection=found, page=page)


@bp.get("/items/<item_id>")
def item(item_id: str) -> str:
    found = db.get_or_404(Item, item_id)
    if not can_see_item(current_viewer(), found):
        abort(404)
    urls = public_urls()
    manifest_url = urls.manifest(found.id)
    embed_url = f"{urls.base}{url_for('viewer.embed', manifest=manifest_url)}"
    snippet = (
        f'<iframe src="{escape(embed_url)}" width="100%" height="600" allowfullscreen '
        f'title="{escape(localized(found.title))}"></iframe>'
    )
    return render_template(
        "public/item.html",
        item=found,
        manifest_url=manifest_url,
        embed_snippet=snippet,
        # Only for images not open to all does the viewer send the access cookie.
        credentials_for=public_urls().image_url if public_access(found) != FULL else "",
        can_download=bool(found.images) and downloadable(found),
    )


@bp.get("/items/<item_id>/record.json")
def record(item_id: str) -> Response:
    """The item's descriptive record (the manifest's seeAlso), as Dublin Core in JSON."""
    found = db.get_or_404(Item, item_id)
    if not can_see_item(current_viewer(), found):
        abort(404)
    body = {
        "id": public_urls().item_page(found.id),
        "manifest": public_urls().manifest(found.id),
        "title": found.title,
        "summary": found.summary,
        "collection": found.collection.slug,
        "dc": found.dc,
        "year_start": found.year_start,
        "year_end": found.year_end,
        "rights": found.rights or current_app.config["DEFAULT_RIGHTS"],
        "pages": len(found.images),
    }
    response = jsonify(body)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/items/<item_id>/download.pdf")
def download_pdf(item_id: str) -> Response:
    found = db.get_or_404(Item, item_id)
    if not can_see_item(current_viewer(), found):
        abort(404)
    if not found.images or not (downloadable(found) or current_viewer().is_staff):
        abort(403, _("This item cannot be downloaded."))
    try:
        body = item_pdf(found, get_storage(), int(current_app.config["PDF_MAX_PAGES"]))
    except TooLarge as exc:
        abort(413, str(exc))
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{found.id}.pdf"'
    return response


@bp.get("/health")
def health() -> tuple[str, int, dict[str, str]]:
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/lang/<code>")
def set_language(code: str) -> Response:
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("public.index")))
