"""Probes for load balancers and orchestrators: alive (/health) and ready (/ready)."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from image_server.policy import in_networks

from .. import get_storage
from ..extensions import db
from ..settings import current_settings
from ..web import client_address, get_search, public_urls
from .blueprint import bp


@bp.get("/health")
def health() -> tuple[str, int, dict[str, str]]:
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


def _storage_answers() -> None:
    storage = get_storage()
    root = getattr(storage, "root", None)
    if root is not None and not root.is_dir():
        raise FileNotFoundError(str(root))
    storage.exists("ready/probe")


def _database_state() -> str:
    """ "ok", or "read-only" when the database answers but would refuse every write."""
    import os
    from pathlib import Path

    from sqlalchemy import text

    db.session.execute(text("SELECT 1")).scalar_one()
    engine = db.engine
    if engine.dialect.name == "postgresql":
        setting = db.session.execute(text("SELECT current_setting('transaction_read_only')"))
        return "read-only" if setting.scalar() == "on" else "ok"
    if engine.dialect.name == "sqlite":
        if db.session.execute(text("PRAGMA query_only")).scalar():
            return "read-only"
        name = engine.url.database
        if name and name != ":memory:":  # SQLite writes the file and a journal beside it
            path = Path(name)
            if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
                return "read-only"
    return "ok"


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    """Ready when the database, the object storage and the search index all answer.

    A database that answers but refuses writes (a read-only file or disk, a standby) is
    reported as "read-only" and still counts as ready: readers are served, and taking
    every instance out of rotation would turn degraded writing into an outage.
    Stored manifests written for other base URLs than this site's are reported as
    "base-url-mismatch" and count as ready for the same reason: every instance shares
    them, and what mends them is `tangthu publish --all`, not a restart elsewhere.
    """
    from ..search import SearchRequest, parse_query
    from ..services.publish import base_state

    checks: dict[str, str] = {}
    monitor = in_networks(client_address(), current_settings().monitor_networks)
    for name, probe in (
        ("database", _database_state),
        ("storage", _storage_answers),
        (
            "search",
            lambda: get_search().search(SearchRequest(parse_query("ready"), limit=1, facets=False)),
        ),
        ("manifests", lambda: base_state(get_storage(), public_urls())),
    ):
        try:
            state = probe()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
            db.session.rollback()
            current_app.logger.warning("not ready: %s: %s", name, exc)
            checks[name] = "unreachable"
            if monitor:  # why it failed is for the operators, not the public
                checks[name] += f": {type(exc).__name__}"
        else:
            checks[name] = state if isinstance(state, str) else "ok"
            if checks[name] != "ok":
                current_app.logger.warning("ready, but %s is %s", name, checks[name])
    degraded = ("ok", "read-only", "base-url-mismatch")
    status = 200 if all(v in degraded for v in checks.values()) else 503
    response = jsonify(checks)
    response.headers["Cache-Control"] = "no-store"
    return response, status
