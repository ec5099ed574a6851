"""Public pages for researchers: home, collections and items."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from ..extensions import db
from ..models import Collection, Item
from ..services.access import can_see_item, visible_items
from ..web import current_viewer, public_urls, safe_next

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
    manifest_url = public_urls().manifest(found.id)
    return render_template("public/item.html", item=found, manifest_url=manifest_url)


@bp.get("/health")
def health() -> tuple[str, int, dict[str, str]]:
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/lang/<code>")
def set_language(code: str) -> Response:
    from flask import current_app

    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("public.index")))
