"""The site's own pages (about, contact, terms) and the institution as every page shows it:
its name, logo and footer, as curators set them in the admin (``admin/site.py``).

Curators write plain text. It is shown as paragraphs, with web and e-mail addresses made
into links by ``paragraphs`` here, and every character of it escaped: no HTML of theirs
ever reaches a page.

Every page's header and footer need the institution, so it is kept per process
(``KeptIdentity``) and not read from the database on each request. A change writes a
stamp file in the instance folder, which every process on the host sees at its next
request (one stat); processes on other hosts re-read the database at most
``RECHECK_SECONDS`` later.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    abort,
    current_app,
    has_request_context,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from .. import get_storage
from ..extensions import db
from ..models import SiteIdentity, SitePage
from ..settings import current_settings
from ..web import localized
from .blueprint import bp

log = logging.getLogger(__name__)

SLUGS = ("about", "contact", "terms")
PAGE_NAMES = {"about": _l("About"), "contact": _l("Contact"), "terms": _l("Terms of use")}
EXTENSION = "tangthu.site_identity"
STAMP = "site-identity.stamp"  # in the instance folder; replaced on every change
RECHECK_SECONDS = 30.0  # how stale another host's kept identity may be

# Web and e-mail addresses in curators' text; nothing else becomes markup.
ADDRESS = re.compile(r"https?://[^\s<>\"'`]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
TRAILING = ".,;:!?)]}"  # punctuation after an address belongs to the sentence


def _linked(line: str) -> Markup:
    parts: list[str] = []
    start = 0
    for match in ADDRESS.finditer(line):
        target = match.group(0).rstrip(TRAILING)
        end = match.start() + len(target)
        href = target if "://" in target else f"mailto:{target}"
        parts.append(escape(line[start : match.start()]))
        parts.append(Markup('<a href="{}" rel="noopener">{}</a>').format(href, target))
        start = end
    parts.append(escape(line[start:]))
    return Markup("").join(parts)


def paragraphs(text: str) -> list[Markup]:
    """Plain text as paragraphs (split at blank lines, lines kept), every character escaped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    blocks = [block.strip() for block in re.split(r"\n[ \t]*\n", lines)]
    return [Markup("<br>\n").join(_linked(line) for line in b.split("\n")) for b in blocks if b]


@dataclass(frozen=True, slots=True)
class Identity:
    """The institution as curators set it; empty values fall back to the configuration."""

    name: dict[str, str]
    footer: dict[str, str]
    logo_key: str = ""
    logo_type: str = ""
    logo_width: int = 0
    logo_height: int = 0
    generation: int = 0


NOTHING_SET = Identity({}, {})


def load_identity() -> Identity:
    row = db.session.execute(db.select(SiteIdentity).order_by(SiteIdentity.id)).scalars().first()
    if row is None:
        return NOTHING_SET
    return Identity(
        dict(row.name or {}),
        dict(row.footer or {}),
        row.logo_key,
        row.logo_type,
        row.logo_width,
        row.logo_height,
        row.generation,
    )


class KeptIdentity:
    """One process's copy of the identity, read again when the stamp file changes (a
    change on this host) or after ``recheck`` seconds (a change on another host)."""

    def __init__(self, stamp: Path, recheck: float = RECHECK_SECONDS) -> None:
        self.stamp = stamp
        self.recheck = recheck
        self.lock = threading.Lock()
        self.kept: tuple[tuple[int, int] | None, float, Identity] | None = None

    def _mark(self) -> tuple[int, int] | None:
        try:
            found = os.stat(self.stamp)
        except OSError:
            return None
        return (found.st_ino, found.st_mtime_ns)

    def get(self) -> Identity:
        mark, now = self._mark(), time.monotonic()
        with self.lock:
            kept = self.kept
        if kept is not None and kept[0] == mark and now - kept[1] < self.recheck:
            return kept[2]
        identity = load_identity()
        with self.lock:
            self.kept = (mark, now, identity)
        return identity

    def changed(self) -> None:
        """After a change is committed: every process on this host reads it again."""
        with self.lock:
            self.kept = None
        temporary = self.stamp.with_name(f".{self.stamp.name}.{os.getpid()}")
        try:
            temporary.write_text(str(time.time_ns()))
            os.replace(temporary, self.stamp)  # a new inode: seen even within one tick
        except OSError:  # a read-only instance folder: other processes wait for the recheck
            log.warning("could not write %s", self.stamp, exc_info=True)


def kept_identity(app: Flask | None = None) -> KeptIdentity:
    app = app or current_app
    kept: KeptIdentity | None = app.extensions.get(EXTENSION)
    if kept is None:
        kept = app.extensions[EXTENSION] = KeptIdentity(Path(app.instance_path) / STAMP)
    return kept


def current_identity() -> Identity:
    """The identity; the configured one while the database cannot be read (an error page
    must still be drawn)."""
    try:
        return kept_identity().get()
    except SQLAlchemyError:
        log.warning("could not read the site identity", exc_info=True)
        db.session.rollback()
        return NOTHING_SET


@dataclass(frozen=True, slots=True)
class Institution:
    """What the header and footer of a page show, in the reader's language."""

    name: str
    footer: list[Markup]
    logo_url: str
    logo_width: int
    logo_height: int


def institution_name(identity: Identity, locale: str) -> str:
    """The curators' name in this language, else the configured one, else any."""
    configured = current_settings().library_name
    return (
        identity.name.get(locale)
        or configured.get(locale)
        or localized(identity.name)
        or next(iter(configured.values()))
    )


@bp.app_context_processor
def institution_context() -> dict[str, Any]:
    identity = current_identity()
    locale = str(get_locale() or current_settings().default_locale)
    logo = ""
    if identity.logo_key and has_request_context():  # a page drawn by a command has none
        logo = url_for("public.site_logo", v=_logo_version(identity.logo_key))
    footer = identity.footer.get(locale) or localized(identity.footer)
    institution = Institution(
        institution_name(identity, locale),
        paragraphs(footer),
        logo,
        identity.logo_width,
        identity.logo_height,
    )
    return {"institution": institution}


def _logo_version(key: str) -> str:
    """The logo's digest, from its content-addressed key (site/logo-<sha256>.<ext>)."""
    return key.rsplit("/", 1)[-1].removeprefix("logo-").split(".", 1)[0]


def default_page(slug: str) -> tuple[str, str]:
    """The title and body a page has until a curator writes it, in the reader's language."""
    name = institution_name(current_identity(), str(get_locale() or "vi"))
    if slug == "about":
        return _("About the library"), _(
            "%(name)s keeps old books, manuscripts, newspapers and maps, and shares them here"
            " as digital images that anyone may read, search and cite.\n\n"
            "The images follow the IIIF standards, so researchers can also open them in the"
            " viewers and tools of their choice.",
            name=name,
        )
    if slug == "contact":
        return _("Contact"), _(
            "To ask about the collections, a visit to the reading room or a copy of an item,"
            " write to %(name)s or come to its reading room.\n\n"
            "The library has not yet published its address, telephone and e-mail here.",
            name=name,
        )
    return _("Terms of use"), _(
        "The images and descriptions on this site are shared for study and research.\n\n"
        "Each item states its rights. Follow that statement when you reuse an item, and"
        " credit %(name)s as its source.",
        name=name,
    )


def _show(slug: str) -> str:
    page = db.session.execute(db.select(SitePage).filter_by(slug=slug)).scalar_one_or_none()
    title, body = default_page(slug)
    if page is not None:
        title = localized(page.title) or title
        body = localized(page.body) or body
    return render_template(
        "public/site_page.html", slug=slug, title=title, paragraphs=paragraphs(body)
    )


@bp.get("/about")
def about() -> str:
    return _show("about")


@bp.get("/contact")
def contact() -> str:
    return _show("contact")


@bp.get("/terms")
def terms() -> str:
    return _show("terms")


@bp.get("/site/logo")
def site_logo() -> Response:
    """The institution's logo, as stored when it was checked; its digest is its ETag."""
    identity = current_identity()
    if not identity.logo_key:
        abort(404)
    try:
        body = get_storage().get_bytes(identity.logo_key)
    except KeyError:
        abort(404)
    response = Response(body, mimetype=identity.logo_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "public, max-age=300"
    response.set_etag(_logo_version(identity.logo_key))
    return response.make_conditional(request)
