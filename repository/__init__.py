"""Tàng Thư repository: the Flask app that stores, describes and publishes objects."""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, request, session
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from image_server import policy, tokens

from .config import DEFAULTS
from .extensions import babel, csrf, db, login_manager, migrate
from .security import DatabaseInteger, check_secrets, init_security
from .storage import Storage, open_storage

log = logging.getLogger(__name__)


def _secret_key(instance: Path) -> str:
    """From the environment, or made once per instance and kept out of the repo."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _token_keys(app: Flask, instance: Path) -> str:
    """From the environment, or one key made once per instance (for the demo)."""
    if app.config.get("ACCESS_TOKEN_KEYS"):
        value = app.config["ACCESS_TOKEN_KEYS"]
        return value if isinstance(value, str) else json.dumps(value)
    path = instance / "access_token_keys.json"
    if not path.exists():
        path.write_text(json.dumps({"k1": secrets.token_urlsafe(48)}))
        path.chmod(0o600)
    return path.read_text().strip()


def select_locale() -> str:
    choice = session.get("lang")
    languages = babel_languages()
    if choice in languages:
        return str(choice)
    return request.accept_languages.best_match(languages) or languages[0]


def babel_languages() -> list[str]:
    from flask import current_app

    return list(current_app.config["LANGUAGES"])


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the repository app: defaults, then instance/config.py, then TANGTHU_* vars.

    ``config`` (used by tests) is applied last; its ``INSTANCE_PATH`` picks the instance
    folder, as does the ``TANGTHU_INSTANCE_PATH`` variable.
    """
    overrides = dict(config or {})
    instance_path = overrides.pop("INSTANCE_PATH", None) or os.environ.get("TANGTHU_INSTANCE_PATH")
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("TANGTHU")
    app.config.from_mapping(overrides)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)
    app.config["SQLALCHEMY_DATABASE_URI"] = (
        app.config.get("DATABASE_URL") or f"sqlite:///{instance / 'tangthu.sqlite'}"
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A SQLite connection is cheap, and one opened while the file was read-only stays
        # read-only: a connection per use sees the file as it is now.
        from sqlalchemy.pool import NullPool

        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "poolclass": NullPool,
        }
    app.config["STORAGE_URL"] = app.config.get("STORAGE_URL") or (instance / "storage").as_uri()
    app.config.setdefault("STAGING_DIR", str(instance / "staging"))

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True
    )
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    app.extensions["tangthu.storage"] = open_storage(app.config["STORAGE_URL"])
    app.config["ACCESS_TOKEN_KEYS"] = _token_keys(app, instance)
    check_secrets(app, instance)
    app.extensions["tangthu.token_keys"] = tokens.Keys.parse(app.config["ACCESS_TOKEN_KEYS"])
    config = app.config
    app.extensions["tangthu.onsite_networks"] = policy.setting(
        "ONSITE_RANGES", policy.parse_networks, config["ONSITE_RANGES"]
    )
    partners = policy.setting("PARTNER_ORIGINS", policy.parse_origins, config["PARTNER_ORIGINS"])
    app.extensions["tangthu.trusted_origins"] = frozenset(
        {policy.origin_of(config["PUBLIC_URL"]), *partners}
    )
    if int(app.config["PROXY_HOPS"]):
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from .services.ingest import restrict_vips_loaders

    restrict_vips_loaders()
    app.url_map.converters["int"] = DatabaseInteger
    _register_blueprints(app)
    from .auth.oidc import init_oidc

    init_oidc(app)
    _register_context(app)
    from .cli import register_commands
    from .errors import register_error_handlers

    register_error_handlers(app)
    init_security(app)
    register_commands(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from viewer import bp as viewer_bp

    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .oai import bp as oai_bp
    from .public import bp as public_bp

    for blueprint in (public_bp, api_bp, auth_bp, admin_bp, viewer_bp, oai_bp):
        app.register_blueprint(blueprint)


def _register_context(app: Flask) -> None:
    from flask_babel import get_locale

    from .models import User

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        """The account of a session that is still valid: sign-out, and changes of role or
        groups, advance the account's epoch, and every older session ends with it."""
        user_id, _, epoch = session_id.partition(":")
        if not (user_id.isdigit() and epoch.isdigit()):
            return None
        user = db.session.get(User, int(user_id))
        return user if user is not None and user.access_epoch == int(epoch) else None

    from .web import collection_cover, localized, shows_images, thumbnail_url

    app.add_template_filter(localized, "localized")
    app.add_template_global(thumbnail_url, "thumbnail_url")
    app.add_template_global(shows_images, "shows_images")
    app.add_template_global(collection_cover, "collection_cover")

    @app.context_processor
    def site_context() -> dict[str, Any]:
        locale = str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"])
        names = app.config["LIBRARY_NAME"]
        return {
            "locale": locale,
            "library_name": names.get(locale) or next(iter(names.values())),
            "languages": app.config["LANGUAGES"],
            "current_user": current_user,
        }


def get_storage() -> Storage:
    from flask import current_app

    storage: Storage = current_app.extensions["tangthu.storage"]
    return storage


def request_class(path: str) -> str:
    """The repository's kinds of request, for metrics and access logs."""
    if path.startswith("/iiif/"):
        if path.endswith("/manifest"):
            return "manifest"
        if "/search" in path or "/autocomplete" in path:
            return "content-search"
        if path.startswith(("/iiif/collection", "/iiif/2/collection")):
            return "collection"
        if path.startswith("/iiif/discovery"):
            return "discovery"
        return "iiif"
    prefixes = (
        ("/search", "search"),
        ("/oai", "oai"),
        ("/static/", "static"),
        ("/viewer/static/", "static"),
        ("/admin", "admin"),
        ("/auth", "auth"),
    )
    for prefix, kind in prefixes:
        if path.startswith(prefix):
            return kind
    return "health" if path in ("/health", "/ready", "/metrics") else "page"


def serve() -> Flask:
    """The repository as deployed: JSON logs with request ids, and /metrics."""
    from image_server.telemetry import Observed, configure_logging

    configure_logging("repository")
    app = create_app()
    app.wsgi_app = Observed(app.wsgi_app, "repository", request_class)  # type: ignore[method-assign]
    return app
