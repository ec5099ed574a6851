"""Tàng Thư repository: the Flask app that stores, describes and publishes objects."""

from __future__ import annotations

import gc
import json
import logging
import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, request, session
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from image_server import tokens
from image_server.policy import PolicyStore

from .config import DEFAULTS
from .extensions import babel, csrf, db, login_manager, migrate, read_while_writing
from .security import DatabaseInteger, check_secrets, init_security
from .settings import EXTENSION as SETTINGS
from .settings import SettingError, Settings, current_settings, settings_of
from .storage import LocalStorage, Storage, open_storage

log = logging.getLogger(__name__)


def _secret_key(instance: Path) -> str:
    """From the environment, or made once per instance and kept out of the repo."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _token_keys(configured: object, instance: Path) -> str:
    """From the environment, or one key made once per instance (for the demo)."""
    if configured:
        return configured if isinstance(configured, str) else json.dumps(configured)
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
    return list(current_settings().languages)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the repository app: defaults, then instance/config.py, then TANGTHU_* vars.

    ``config`` (used by tests) is applied last; its ``INSTANCE_PATH`` picks the instance
    folder, as does the ``TANGTHU_INSTANCE_PATH`` variable. The settings are checked
    here, once (``settings.Settings``): a bad value stops the app naming its variable.
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
    app.config["ACCESS_TOKEN_KEYS"] = _token_keys(app.config.get("ACCESS_TOKEN_KEYS"), instance)
    settings = Settings.from_config(app.config, instance)
    app.extensions[SETTINGS] = settings
    # As resolved, for what hands them on: `tangthu serve` gives them to the image server.
    app.config["STORAGE_URL"] = settings.storage_url
    check_secrets(app, instance)

    init_database(app, instance)
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    init_storage(app)
    init_access(app)
    from .jobs import init_queue

    init_queue(app)

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


def init_database(app: Flask, instance: Path) -> None:
    """Bind the database and its migrations.

    Reads DATABASE_URL (empty: ``tangthu.sqlite`` in the instance folder) and
    SQLALCHEMY_ENGINE_OPTIONS, and sets SQLALCHEMY_DATABASE_URI for Flask-SQLAlchemy.
    """
    url = app.config.get("DATABASE_URL") or f"sqlite:///{instance / 'tangthu.sqlite'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("sqlite"):
        # Connections are kept (extensions.keep_connections). A worker's threads each hold
        # up to three at once (the session, a search and its counts beside it).
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_size": 8,
            "max_overflow": 24,
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        }
    db.init_app(app)
    with app.app_context():
        read_while_writing(db.engine)
    migrate.init_app(
        app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True
    )


def init_storage(app: Flask) -> None:
    """Open the object storage the app writes to.

    Reads STORAGE_URL (file:// or s3://) and, for s3://, S3_ENDPOINT, S3_ACCESS_KEY,
    S3_SECRET_KEY, S3_REGION, S3_CREATE_BUCKET, S3_CACHE_DIR, S3_CACHE_MAX_BYTES and
    S3_CACHE_REVALIDATE_SECONDS, from the settings.
    """
    settings = settings_of(app)
    storage = open_storage(settings.storage_url, settings.s3_variables())
    app.extensions["tangthu.storage"] = storage
    # The items' own sidecars, re-read when their file changes: on local storage only, where
    # a stat says so at once; from S3 every manifest request asks the database instead.
    if isinstance(storage, LocalStorage):
        policies = PolicyStore(storage, ttl=0, local_root=str(storage.root))
        app.extensions["tangthu.item_policies"] = policies


def item_policies() -> PolicyStore | None:
    """The items' sidecars (see init_storage), or None where they are not used."""
    from flask import current_app

    policies: PolicyStore | None = current_app.extensions.get("tangthu.item_policies")
    return policies


def init_access(app: Flask) -> None:
    """Parse the access-token keys, and trust PROXY_HOPS proxies for client addresses.

    Reads ACCESS_TOKEN_KEYS (already checked by ``check_secrets``) and PROXY_HOPS.
    """
    try:
        keys = tokens.Keys.parse(str(app.config["ACCESS_TOKEN_KEYS"]))  # JSON, by _token_keys
    except ValueError as exc:
        raise SettingError(f"TANGTHU_ACCESS_TOKEN_KEYS: {exc}") from None
    app.extensions["tangthu.token_keys"] = keys
    hops = settings_of(app).proxy_hops
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def _register_blueprints(app: Flask) -> None:
    from viewer import bp as viewer_bp

    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .oai import bp as oai_bp
    from .public import bp as public_bp

    for blueprint in (public_bp, api_bp, auth_bp, admin_bp, viewer_bp, oai_bp):
        app.register_blueprint(blueprint)
    csrf.exempt(oai_bp)  # harvesters POST forms without a session, and change nothing


def _register_context(app: Flask) -> None:
    from flask_babel import get_locale

    from .models import User

    def load_user(session_id: str) -> User | None:
        """The account of a session that is still valid: sign-out, and changes of role or
        groups, advance the account's epoch, and every older session ends with it."""
        user_id, _, epoch = session_id.partition(":")
        if not (user_id.isdigit() and epoch.isdigit()):
            return None
        user = db.session.get(User, int(user_id))
        valid = user is not None and user.access_epoch == int(epoch) and not user.disabled
        return user if valid else None

    login_manager.user_loader(load_user)  # not as a decorator: Flask-Login's is untyped

    from .services.cataloguing import language_name
    from .web import collection_cover, localized, shows_images, thumbnail_url

    app.add_template_filter(localized, "localized")
    app.add_template_filter(
        lambda tag: language_name(str(tag), str(get_locale() or "vi")), "language_name"
    )
    app.add_template_global(thumbnail_url, "thumbnail_url")
    app.add_template_global(shows_images, "shows_images")
    app.add_template_global(collection_cover, "collection_cover")

    settings = settings_of(app)

    @app.context_processor
    def site_context() -> dict[str, Any]:
        locale = str(get_locale() or settings.default_locale)
        names = settings.library_name
        return {
            "locale": locale,
            "library_name": names.get(locale) or next(iter(names.values())),
            "languages": list(settings.languages),
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


YOUNG_COLLECTION_THRESHOLD = 20_000
"""Allocations between two collections of the youngest objects (Python's default is 700).
Building a page of 1,000 manifests keeps ~50,000 objects alive for a moment: at 700 they
were promoted to the oldest generation, whose full collections (each walking the ~170,000
objects start-up made) then ran several times per build. At 200,000 items a first build
took 800-1,100 ms, 95-140 ms at 20,000 (benchmarks/README.md, scale)."""


def serve() -> Flask:
    """The repository as deployed: JSON logs with request ids, and /metrics."""
    from image_server.telemetry import Observed, configure_logging

    configure_logging("repository")
    app = create_app()
    app.wsgi_app = Observed(app.wsgi_app, "repository", request_class)  # type: ignore[method-assign]
    # Not frozen as the image server's start-up objects are (gc.freeze): with it, a worker
    # died of SIGSEGV while collecting garbage as another thread read rows from sqlite3,
    # in 2 of 5 runs of the scale smoke test (benchmarks/README.md, scale). Collections are
    # made rarer instead, which the first builds of big pages need most.
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    count_ahead_in_each_process(app)
    return app


def count_ahead_in_each_process(app: Flask) -> None:
    """Work out the public's counts ahead (``public.browse.count_ahead``) in each process
    that serves, from its first request on: never in a gunicorn master that loads the app
    before forking its workers (``preload_app``, as deployed). A thread still counting
    there as a worker was forked left the worker its locks held (a count being worked
    out, a connection in use) and no thread to let them go: some of the first requests
    of a worker then waited forever (1 start in 3 with the sample)."""
    from .api.discovery import visible_event_count
    from .public.browse import count_ahead

    started = [0]  # the process they were started in (a fork has none)
    lock = threading.Lock()

    @app.before_request
    def start_counting() -> None:
        if started[0] == os.getpid():
            return
        with lock:
            if started[0] == os.getpid():
                return
            started[0] = os.getpid()
        count_ahead(app, visible_event_count)
