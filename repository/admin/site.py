"""The site itself, for curators: the institution's name, logo and footer, and the about,
contact and terms pages (shown by ``public/site_pages.py``).

Every save is one transaction with its audit event: a refusal or a failure leaves no
row changed. A logo is checked as an upload from a stranger would be (its first bytes,
its size, its pixels, a full decode by libvips) before anything is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pyvips
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from .. import get_storage
from ..extensions import db
from ..models import SiteIdentity, SitePage, utcnow
from ..public import site_pages
from ..services.audit import record
from ..services.decoders import JPEG, PNG, WEBP, Kind, sniff
from ..services.errors import Conflict, Refused
from ..web import client_address
from .blueprint import bp

MAX_LOGO_BYTES = 1024 * 1024
MAX_LOGO_PIXELS = 4_000_000  # 2000 × 2000: far more than a header shows
LOGO_KINDS = (PNG, JPEG, WEBP)  # never SVG: it can carry scripts
TITLE_LENGTH = 200
BODY_LENGTH = 20_000
NAME_LENGTH = 200
FOOTER_LENGTH = 1_000


@dataclass(frozen=True, slots=True)
class Actor:
    username: str
    address: str | None = None


@dataclass(frozen=True, slots=True)
class PageDraft:
    title: dict[str, str]
    body: dict[str, str]


@dataclass(frozen=True, slots=True)
class IdentityDraft:
    name: dict[str, str]
    footer: dict[str, str]
    remove_logo: bool = False


@dataclass(frozen=True, slots=True)
class Logo:
    """An upload that passed every check: its bytes, their kind and its size."""

    body: bytes
    kind: Kind
    width: int
    height: int

    @property
    def key(self) -> str:
        return f"site/logo-{hashlib.sha256(self.body).hexdigest()}.{self.kind.extension}"


def _refuse(reason: str) -> Refused:
    return Refused(reason, fields={"logo": reason})


def _looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in text


def check_logo(body: bytes) -> Logo:
    """The upload as a logo, or Refused (for the field ``logo``) saying why not."""
    if not body:
        raise _refuse(_("The logo file is empty."))
    if len(body) > MAX_LOGO_BYTES:
        raise _refuse(_("The logo is larger than 1 MB. Choose a smaller file."))
    kind = sniff(body[:16])
    if kind not in LOGO_KINDS:
        if _looks_like_svg(body[:1024]):
            raise _refuse(
                _(
                    "SVG logos are not accepted, as they can carry scripts."
                    " Upload a PNG, JPEG or WebP image."
                )
            )
        raise _refuse(_("This file is not a PNG, JPEG or WebP image."))
    assert kind is not None
    try:
        header = pyvips.Image.new_from_buffer(body, "", access="sequential", fail_on="truncated")
        width, height = header.width, header.height
        if width * height > MAX_LOGO_PIXELS:
            raise _refuse(
                _(
                    "The logo is %(width)s × %(height)s pixels; the limit is 2000 × 2000.",
                    width=width,
                    height=height,
                )
            )
        header.avg()  # decodes every pixel: a damaged file fails here, not in a browser
    except pyvips.Error:
        raise _refuse(_("The logo is damaged or not a readable image.")) from None
    return Logo(body, kind, width, height)


def _commit_with_audit(action: str, actor: Actor, target: str, detail: str) -> None:
    """Commit the change with its audit event, or neither."""
    try:
        record(action, actor.username, target=target, detail=detail, address=actor.address)
    except SQLAlchemyError:
        db.session.rollback()
        raise Conflict(_("The change could not be saved. Please try again.")) from None


def save_page(slug: str, draft: PageDraft, actor: Actor) -> None:
    page = db.session.execute(db.select(SitePage).filter_by(slug=slug)).scalar_one_or_none()
    if page is None:
        page = SitePage(slug=slug)
        db.session.add(page)
    page.title = dict(draft.title)
    page.body = dict(draft.body)
    page.updated_at = utcnow()
    page.updated_by = actor.username[:80]
    _commit_with_audit("site-page-saved", actor, slug, f"title {draft.title}")


def save_identity(draft: IdentityDraft, logo: Logo | None, actor: Actor) -> None:
    """Store the logo (content-addressed), then the row and its audit event; the old
    logo goes once the new row is committed."""
    row = db.session.execute(db.select(SiteIdentity).order_by(SiteIdentity.id)).scalars().first()
    if row is None:
        row = SiteIdentity(generation=0)
        db.session.add(row)
    old_key = row.logo_key or ""
    if logo is not None:
        get_storage().put_bytes(logo.key, logo.body)
        row.logo_key, row.logo_type = logo.key, logo.kind.media_type
        row.logo_width, row.logo_height = logo.width, logo.height
    elif draft.remove_logo:
        row.logo_key, row.logo_type, row.logo_width, row.logo_height = "", "", 0, 0
    row.name = {lang: text for lang, text in draft.name.items() if text}
    row.footer = {lang: text for lang, text in draft.footer.items() if text}
    row.generation = (row.generation or 0) + 1
    row.updated_at = utcnow()
    row.updated_by = actor.username[:80]
    new_key = row.logo_key
    detail = f"name {row.name}; logo {new_key or 'none'}"
    try:
        _commit_with_audit("site-identity-saved", actor, "site", detail)
    except Conflict:
        if logo is not None and logo.key != old_key:
            get_storage().delete(logo.key)
        raise
    site_pages.kept_identity().changed()
    if old_key and old_key != new_key:
        get_storage().delete(old_key)


def _stripped(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _lines(value: str | None) -> str | None:
    """Trailing spaces and the Windows line ends of a text area go; paragraphs stay."""
    if not isinstance(value, str):
        return value
    return "\n".join(line.rstrip() for line in value.replace("\r\n", "\n").split("\n")).strip()


class SitePageForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    title_vi = StringField(
        _l("Title (Vietnamese)"), filters=[_stripped], validators=[Length(max=TITLE_LENGTH)]
    )
    title_en = StringField(
        _l("Title (English)"), filters=[_stripped], validators=[Length(max=TITLE_LENGTH)]
    )
    body_vi = TextAreaField(
        _l("Text (Vietnamese)"), filters=[_lines], validators=[Length(max=BODY_LENGTH)]
    )
    body_en = TextAreaField(
        _l("Text (English)"), filters=[_lines], validators=[Length(max=BODY_LENGTH)]
    )

    def validate_title_vi(self, field: StringField) -> None:
        if not (field.data or self.title_en.data):
            raise ValidationError(_("Give the page a title, in Vietnamese or English."))

    def validate_body_vi(self, field: TextAreaField) -> None:
        if not (field.data or self.body_en.data):
            raise ValidationError(_("Write the page's text, in Vietnamese or English."))


class IdentityForm(FlaskForm):  # type: ignore[misc]
    name_vi = StringField(
        _l("Name (Vietnamese)"), filters=[_stripped], validators=[Length(max=NAME_LENGTH)]
    )
    name_en = StringField(
        _l("Name (English)"), filters=[_stripped], validators=[Length(max=NAME_LENGTH)]
    )
    footer_vi = TextAreaField(
        _l("Footer (Vietnamese)"), filters=[_lines], validators=[Length(max=FOOTER_LENGTH)]
    )
    footer_en = TextAreaField(
        _l("Footer (English)"), filters=[_lines], validators=[Length(max=FOOTER_LENGTH)]
    )
    logo = FileField(_l("Logo (PNG, JPEG or WebP, at most 1 MB)"))
    remove_logo = BooleanField(_l("Remove the logo"))


def _actor() -> Actor:
    return Actor(current_user.username, client_address())


def _uploaded_logo(form: IdentityForm) -> Logo | None:
    upload = form.logo.data
    if upload is None or not getattr(upload, "filename", ""):
        return None
    return check_logo(upload.read(MAX_LOGO_BYTES + 1))


@bp.route("/site", methods=["GET", "POST"])
def site() -> str | Response:
    """The institution's name, logo and footer, and links to edit the site's pages."""
    row = db.session.execute(db.select(SiteIdentity).order_by(SiteIdentity.id)).scalars().first()
    name, footer = (row.name, row.footer) if row is not None else ({}, {})
    form = IdentityForm(
        data={
            f"{field}_{lang}": values.get(lang, "")
            for field, values in (("name", name), ("footer", footer))
            for lang in ("vi", "en")
        }
    )
    if form.validate_on_submit():
        try:
            logo = _uploaded_logo(form)
            draft = IdentityDraft(
                {"vi": form.name_vi.data or "", "en": form.name_en.data or ""},
                {"vi": form.footer_vi.data or "", "en": form.footer_en.data or ""},
                bool(form.remove_logo.data),
            )
            save_identity(draft, logo, _actor())
        except Refused as refused:
            form.logo.errors = [*refused.fields.values()]
        else:
            flash(_("The site's identity is saved."))
            return redirect(url_for("admin.site"))
    pages = {page.slug: page for page in db.session.execute(db.select(SitePage)).scalars()}
    return render_template(
        "admin/site_identity.html",
        form=form,
        identity=row,
        pages=pages,
        slugs=site_pages.SLUGS,
        page_names=site_pages.PAGE_NAMES,
    )


@bp.route("/site/pages/<slug>", methods=["GET", "POST"])
def site_page(slug: str) -> str | Response:
    """Edit the about, contact or terms page, in Vietnamese and English side by side."""
    if slug not in site_pages.SLUGS:
        abort(404)
    page = db.session.execute(db.select(SitePage).filter_by(slug=slug)).scalar_one_or_none()
    data: dict[str, str] = {}
    if page is None:  # start from the text readers see now, in both languages
        for lang in ("vi", "en"):
            with force_locale(lang):
                data[f"title_{lang}"], data[f"body_{lang}"] = site_pages.default_page(slug)
    else:
        data = {
            f"{f}_{lang}": getattr(page, f).get(lang, "")
            for f in ("title", "body")
            for lang in ("vi", "en")
        }
    form = SitePageForm(data=data)
    if form.validate_on_submit():
        draft = PageDraft(
            {"vi": form.title_vi.data or "", "en": form.title_en.data or ""},
            {"vi": form.body_vi.data or "", "en": form.body_en.data or ""},
        )
        save_page(slug, draft, _actor())
        flash(_("The page is saved."))
        return redirect(url_for("admin.site_page", slug=slug))
    return render_template(
        "admin/site_page.html", form=form, page=page, slug=slug, page_names=site_pages.PAGE_NAMES
    )
