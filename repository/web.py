"""Small helpers shared by the blueprints: the current viewer, URLs, settings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from flask import current_app, g, request
from flask_babel import get_locale
from flask_login import current_user

from image_server.policy import in_networks
from image_server.pyramids import PyramidSettings
from manifests import Agent, Urls, language_map

from .models import Collection, Image, Item
from .search import SearchBackend
from .services.access import ANONYMOUS, Viewer, shows_thumbnails
from .services.decoders import DecodeLimits
from .services.ingest import IngestSettings
from .services.publish import PublishSettings
from .settings import current_settings


def current_viewer() -> Viewer:
    """The signed-in user (or nobody), and whether this request is from the reading room.

    The reading room is judged from the address of each request, never remembered. A
    page asks for every card it shows (the home page about 80 times), so the answer is
    kept for the rest of the request, for as long as the same user is signed in."""
    signed_in = current_user.is_authenticated
    key = (current_user.get_id(), current_user.role) if signed_in else None
    kept = g.get("tangthu_viewer")
    if kept is not None and kept[0] == key:
        return cast(Viewer, kept[1])
    onsite = in_networks(client_address(), current_settings().onsite_networks)
    if signed_in:
        groups = frozenset(group.name for group in current_user.groups)
        viewer = Viewer(role=current_user.role, groups=groups, onsite=onsite)
    else:
        viewer = Viewer(onsite=onsite) if onsite else ANONYMOUS
    g.tangthu_viewer = (key, viewer)
    return viewer


def client_address() -> str | None:
    """The client's address; behind a proxy, set TANGTHU_PROXY_HOPS so it is trusted."""
    return request.remote_addr


def public_urls() -> Urls:
    return current_settings().urls


def publish_settings(urls: Urls | None = None) -> PublishSettings:
    """The library as provider, attribution and default rights, from the config; ids made
    from ``urls``, by default the configured public URLs."""
    settings = current_settings()
    urls = urls or settings.urls
    homepage = settings.library_homepage or f"{urls.base}/"
    logo = settings.library_logo or f"{urls.base}/static/logo.png"
    library = Agent(homepage, language_map(settings.library_name), homepage, logo)
    return PublishSettings(
        urls,
        library,
        dict(settings.attribution),
        settings.default_rights,
        settings.degraded_edge,
        get_search(),
    )


def get_search() -> SearchBackend:
    """The search backend named by SEARCH_URL, made on first use.

    Empty: SQLite FTS5 in the application's SQLite database, or in
    ``instance/search.sqlite`` when the database is PostgreSQL. ``sqlite:///path``: that
    file. ``http(s)://host:9200``: OpenSearch, index (an alias) SEARCH_INDEX.
    """
    backend = current_app.extensions.get("tangthu.search")
    if backend is None:
        backend = current_app.extensions["tangthu.search"] = make_search_backend()
    return backend


def make_search_backend() -> SearchBackend:
    from sqlalchemy import create_engine

    from .extensions import db, read_while_writing
    from .search.sqlite_fts import SqliteFts

    settings = current_settings()
    url = settings.search_url  # checked in the factory: empty, sqlite: or http(s):
    if url.startswith(("http://", "https://")):
        from .search.opensearch import OpenSearchBackend

        return OpenSearchBackend(url, index=settings.search_index)
    if url.startswith("sqlite:"):
        return SqliteFts(read_while_writing(create_engine(url)))  # reindex fills a new file
    if db.engine.dialect.name == "sqlite":
        backend = SqliteFts(db.engine)
    else:
        path = Path(current_app.instance_path) / "search.sqlite"
        backend = SqliteFts(read_while_writing(create_engine(f"sqlite:///{path}")))
    if backend.needs_rebuild:  # an index of an older layout was dropped: refill it now
        from .services.publish import published_ids, search_batches

        backend.rebuild(search_batches(published_ids()))
    return backend


def ingest_settings() -> IngestSettings:
    settings = current_settings()
    return IngestSettings(
        limits=DecodeLimits(
            max_file_bytes=settings.max_file_bytes,
            max_pixels=settings.max_image_pixels,
            max_pages=settings.max_pages,
            pdf_dpi=settings.pdf_dpi,
        ),
        pyramid=PyramidSettings(settings.pyramid_tile_size, settings.pyramid_quality),
        staging_dir=settings.staging_dir,
    )


def localized(values: dict[str, str] | None) -> str:
    """Pick the text in the reader's language, else Vietnamese, else anything."""
    if not values:
        return ""
    locale = str(get_locale() or "vi")
    for lang in (locale, "vi", "en"):
        if values.get(lang):
            return values[lang]
    return next((v for v in values.values() if v), "")


def thumbnail_url(image_id: str, width: int, height: int, edge: int = 256) -> str:
    """A thumbnail from the image server, at an exact size so caches share it."""
    from manifests.builder import fit

    w, h = fit(width, height, edge)
    return f"{public_urls().image_service(image_id)}/full/{w},{h}/0/default.jpg"


def safe_next(target: str | None, default: str) -> str:
    """A path on this site to go to next, else ``default``.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash, so a
    "/", a tab, then "/evil.example" would leave the site: targets with control
    characters or backslashes are refused whole, as is anything with a scheme or host.
    """
    from urllib.parse import urlsplit  # only this function of the module needs it

    if (
        not target
        or len(target) > 2000  # no page of ours has a longer address
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)
        or "\\" in target
        or not target.startswith("/")
        or target.startswith("//")
    ):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


def shows_images(item: Item) -> bool:
    """Whether this viewer gets pixels of the item (in full or reduced) for thumbnails."""
    return shows_thumbnails(current_viewer(), item)


def collection_cover(collection: Collection, items: Sequence[Item]) -> Image | None:
    """The page to show for a collection: its chosen cover, else its first item's first page.

    None when there is no page, or when this viewer may not see the cover's pixels.
    """
    from .extensions import db

    chosen = collection.cover_image_id
    image = db.session.get(Image, chosen) if chosen else None
    if image is None:
        first = next((item for item in items if item.images), None)
        image = first.images[0] if first is not None else None
    return image
