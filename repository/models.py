"""Database records. Behaviour lives in services/, not here."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db
from .services.collation import sort_key
from .services.terms import term_rows

if TYPE_CHECKING:  # db.Model is Base with Flask-SQLAlchemy's table names; mypy sees Base
    from .extensions import Base as Model
else:
    Model = db.Model

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


# The shape of any item id worth a lookup (new_id's, and imported records' own): what
# fast paths check before they touch a file or the database.
ITEM_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def new_id(length: int = 12) -> str:
    """An opaque, URL-safe, unguessable id: never a file name, never sequential."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Collection(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("collection.id"), default=None)
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    default_access: Mapped[str] = mapped_column(String(20), default="open")
    featured: Mapped[bool] = mapped_column(default=False)
    # Tesseract languages for text recognition of new pages ("vie", "vie+eng"); empty: none.
    ocr_languages: Mapped[str] = mapped_column(String(60), default="")
    # The national programme's category (services.programme.Category): progress is counted by it.
    programme_category: Mapped[str] = mapped_column(
        String(20), default="other", server_default="other"
    )
    # The page shown for the collection; None: the first page of its first item.
    cover_image_id: Mapped[str | None] = mapped_column(
        ForeignKey("image.id", ondelete="SET NULL", use_alter=True), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    items: Mapped[list[Item]] = relationship(back_populates="collection")
    groups: Mapped[list[ReaderGroup]] = relationship(secondary="collection_group")
    parent: Mapped[Collection | None] = relationship(
        remote_side="Collection.id", back_populates="children"
    )
    children: Mapped[list[Collection]] = relationship(
        back_populates="parent", order_by="Collection.slug"
    )


class Item(Model):
    __table_args__ = (
        # A collection's items in order, with what decides who sees them: collection pages,
        # their counts and the home page read this index alone, however large the catalogue.
        Index(
            "ix_item_listing",
            "collection_id",
            "created_at",
            "id",
            "status",
            "access",
            "embargo_until",
            "published_at",
        ),
        Index("ix_item_collection_title", "collection_id", "title_sort"),
        Index("ix_item_title", "title_sort", "id"),  # the admin list by title, all collections
        Index("ix_item_changed", "updated_at", "id"),  # OAI-PMH lists by change
        Index("ix_item_collection_changed", "collection_id", "updated_at", "id"),  # and sets
        # Sitemaps list the public items by id, from this index alone.
        Index("ix_item_public_ids", "status", "id", "access", "embargo_until", "updated_at"),
        Index("ix_item_year", "year_start", "title_sort", "id"),  # browsing by date
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collection.id"), index=True)
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Dublin Core: {"creator": [{"value": "Nguyễn Du", "lang": "vi"}], ...}
    dc: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    viewing_direction: Mapped[str] = mapped_column(String(20), default="left-to-right")
    behavior: Mapped[str] = mapped_column(String(20), default="paged")  # or individuals, ...
    rights: Mapped[str] = mapped_column(String(255), default="")  # a CC or RS.org URI
    # The date as found ("Tự Đức năm thứ 3") is Dublin Core; these normalise it for search.
    year_start: Mapped[int | None] = mapped_column(default=None, index=True)
    year_end: Mapped[int | None] = mapped_column(default=None)
    start_image_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # Table of contents: [{"label": {"vi": ".."}, "pages": [image ids], "children": [...]}]
    toc: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    access: Mapped[str] = mapped_column(String(20), default="open")
    # Text recognition for this item: None follows the collection; "" is none.
    ocr_languages: Mapped[str | None] = mapped_column(String(60), default=None)
    embargo_until: Mapped[date | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    # Union catalogue: a record described here but held elsewhere (imported or harvested)
    # names its institution and links to it; its pages may be a remote IIIF manifest.
    source_institution: Mapped[str] = mapped_column(String(255), default="")
    source_url: Mapped[str] = mapped_column(String(1000), default="")
    remote_manifest: Mapped[str] = mapped_column(String(1000), default="")
    # The OAI identifier at the source, for records kept up to date by harvesting.
    harvest_id: Mapped[str | None] = mapped_column(String(500), unique=True, default=None)
    harvest_source_id: Mapped[int | None] = mapped_column(
        ForeignKey("harvest_source.id"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    # The title in Vietnamese alphabetical order (services.collation), kept by the listener
    # below: pages that sort by title read it from an index.
    title_sort: Mapped[str] = mapped_column(String(400), default="", server_default="")
    collection: Mapped[Collection] = relationship(back_populates="items")
    images: Mapped[list[Image]] = relationship(
        back_populates="item", order_by="Image.position", cascade="all, delete-orphan"
    )


def sortable_title(title: dict[str, str] | None) -> str:
    """The title an item is put in order by: Vietnamese, else English, else any."""
    title = title or {}
    return title.get("vi") or title.get("en") or next((t for t in title.values() if t), "")


@event.listens_for(Item, "before_insert")
@event.listens_for(Item, "before_update")
def _keep_title_sort(_mapper: Any, _connection: Any, item: Item) -> None:
    item.title_sort = sort_key(sortable_title(item.title))


item_terms = Table(
    "item_term",
    db.metadata,
    Column("kind", String(16), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("item_id", ForeignKey("item.id", ondelete="CASCADE"), primary_key=True),
    Column("label", String(200), nullable=False),
    Column("sort", String(400), nullable=False),
    Column("title_sort", String(400), nullable=False),  # the item's: its items in title order
    Index("ix_item_term_item", "item_id"),
    Index("ix_item_term_titles", "kind", "key", "title_sort", "item_id"),
)
"""An item's subjects, creators and places, derived from its Dublin Core (and its title's
sort key) whenever they are written (services.terms), for browsing; never edited alone."""


@event.listens_for(Item, "after_insert")
@event.listens_for(Item, "after_update")
def _keep_terms(_mapper: Any, connection: Any, item: Item) -> None:
    state = inspect(item).attrs
    if not (state.dc.history.has_changes() or state.title.history.has_changes()):
        return  # an insert's record is a change too
    connection.execute(item_terms.delete().where(item_terms.c.item_id == item.id))
    rows = term_rows(item.id, item.dc, item.title_sort)
    if rows:
        connection.execute(item_terms.insert(), rows)


@event.listens_for(Item, "after_delete")
def _drop_terms(_mapper: Any, connection: Any, item: Item) -> None:
    connection.execute(item_terms.delete().where(item_terms.c.item_id == item.id))


class Image(Model):
    __table_args__ = (
        UniqueConstraint("item_id", "position"),
        # The programme's figures count pages digitised by month (services.programme).
        Index("ix_image_created", "created_at", "item_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    item_id: Mapped[str] = mapped_column(ForeignKey("item.id"), index=True)
    position: Mapped[int]
    label: Mapped[str] = mapped_column(String(255), default="")
    original_name: Mapped[str] = mapped_column(String(255), default="")
    media_type: Mapped[str] = mapped_column(String(50))
    width: Mapped[int]
    height: Mapped[int]
    byte_size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    derivative_sha256: Mapped[str] = mapped_column(String(64))
    master_key: Mapped[str] = mapped_column(String(255))
    # For a page of a multi-page master (PDF, multi-page TIFF): which page, from 1.
    master_page: Mapped[int | None] = mapped_column(default=None)
    pyramid_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    item: Mapped[Item] = relationship(back_populates="images")
    page_text: Mapped[PageText | None] = relationship(cascade="all, delete-orphan")


user_groups = Table(
    "user_group",
    db.metadata,
    Column("user_id", ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("reader_group.id", ondelete="CASCADE"), primary_key=True),
)
collection_groups = Table(
    "collection_group",
    db.metadata,
    Column("collection_id", ForeignKey("collection.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("reader_group.id", ondelete="CASCADE"), primary_key=True),
)


class ReaderGroup(Model):
    """Readers allowed into restricted collections, e.g. 'han-nom-researchers'."""

    __tablename__ = "reader_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    label: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class User(UserMixin, Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    # Empty for accounts that only sign in through single sign-on.
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(20), default="reader")
    # For single sign-on: the provider's issuer and subject identify the account.
    sso_subject: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Advanced by sign-out and by changes of role or groups: sessions and access tokens
    # of an older epoch are refused (services.accounts.revoke_access).
    access_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    epoch_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    # A disabled account signs in by no means and its sessions and tokens are void; it
    # keeps its password, groups and history for when it is enabled again.
    disabled: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    groups: Mapped[list[ReaderGroup]] = relationship(secondary="user_group")

    def get_id(self) -> str:
        """The session's id for Flask-Login: the account and its epoch."""
        return f"{self.id}:{self.access_epoch}"

    @property
    def is_active(self) -> bool:
        """Flask-Login's login_user refuses an inactive account."""
        return not self.disabled

    @property
    def is_staff(self) -> bool:
        from .services.access import is_staff_role

        return is_staff_role(self.role)


class LoginAttempt(Model):
    """Failed sign-ins, counted per username to lock out password guessing."""

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), index=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuditEvent(Model):
    """Who did what: sign-ins, role and group changes, access changes, publishing."""

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80), default="")
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(120), default="")
    detail: Mapped[str] = mapped_column(String(1000), default="")
    address: Mapped[str] = mapped_column(String(64), default="")


class PendingObject(Model):
    """A storage key an ingest is about to write: its rows are not committed yet.

    If the process dies before the item is committed, the next ingest (or
    `tangthu cleanup`) removes these objects, so nothing half-written survives.
    """

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(120), index=True)  # host:pid
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UploadTask(Model):
    """One uploaded file waiting for, in, or done with background processing."""

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("item.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    staged_path: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(20), default="queued")  # processing, done, failed
    message: Mapped[str] = mapped_column(String(2000), default="")
    pages: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class HarvestSource(Model):
    """Another repository's OAI-PMH endpoint whose records join our union catalogue."""

    __tablename__ = "harvest_source"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(1000), unique=True)
    institution: Mapped[str] = mapped_column(String(255), default="")
    metadata_prefix: Mapped[str] = mapped_column(String(40), default="oai_dc")
    set_spec: Mapped[str] = mapped_column(String(200), default="")
    collection_id: Mapped[int] = mapped_column(ForeignKey("collection.id"))
    # The source's responseDate when the last complete harvest began: the next `from`.
    harvested_until: Mapped[str] = mapped_column(String(40), default="")
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_message: Mapped[str] = mapped_column(String(1000), default="")
    # A disabled source is left out of harvests of every source, and cannot be harvested
    # alone, until it is enabled again.
    enabled: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    collection: Mapped[Collection] = relationship()


class PageText(Model):
    """The recognised text of one page, with word boxes in the page's full-size pixels.

    It is also the OCR queue: rows wait as 'queued', a worker claims one by moving it to
    'processing', and it ends 'done' or 'failed'.
    """

    __tablename__ = "page_text"
    image_id: Mapped[str] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[str] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    languages: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    message: Mapped[str] = mapped_column(String(1000), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    # [[text, x, y, w, h, line], ...]: what Content Search and the annotations are made of
    words: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    alto_key: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Event(Model):
    """A change to a published resource: feeds Change Discovery, OAI-PMH and sitemaps."""

    id: Mapped[int] = mapped_column(primary_key=True)
    activity: Mapped[str] = mapped_column(String(10))  # Create, Update, Delete
    object_type: Mapped[str] = mapped_column(String(20))  # Manifest, Collection
    object_id: Mapped[str] = mapped_column(String(80), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ProgrammeHoldings(Model):
    """What the library physically holds in one programme category, as counted on a day.

    Every count is kept; the newest (by day counted, then entry) is the one in force."""

    __tablename__ = "programme_holdings"
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(20), index=True)
    titles: Mapped[int]
    pages: Mapped[int]
    counted_on: Mapped[date]
    note: Mapped[str] = mapped_column(String(1000), default="")
    entered_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageCount(Model):
    """COUNTER usage of one item in one month by one user-session (services.usage).

    The session is a salted hash whose salt changes every day and is then deleted: no IP
    address is stored. Totals are the sum of ``hits``, uniques the number of rows."""

    __tablename__ = "usage_count"
    month: Mapped[date] = mapped_column(primary_key=True)  # the first day of the month
    item_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    metric: Mapped[str] = mapped_column(String(20), primary_key=True)  # investigation, request
    session: Mapped[str] = mapped_column(String(32), primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)


class UsageSalt(Model):
    """The day's secret salt for session hashes; deleted once its day is over."""

    __tablename__ = "usage_salt"
    day: Mapped[date] = mapped_column(primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))


class Job(Model):
    """One piece of long work on the job queue (repository.jobs): its state and progress.

    This row, not the queue's message, is the truth: a worker claims it by moving it from
    'queued' to 'running', and a job whose worker died is queued again (jobs.recover)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)  # upload, ingest, ocr, pdf, ...
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    item_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    done: Mapped[int] = mapped_column(default=0)  # progress: steps done of total
    total: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(String(2000), default="")
    cursor: Mapped[str] = mapped_column(String(255), default="")  # what a run holds now
    attempts: Mapped[int] = mapped_column(default=0)
    owner: Mapped[str] = mapped_column(String(120), default="")  # host:pid of its run
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class AccessRequest(Model):
    """A reader's request to read a restricted item, and the curator's decision on it.

    A reader has at most one pending request per item: the partial unique index holds it
    even when two requests race."""

    __tablename__ = "access_request"
    __table_args__ = (
        Index(
            "uq_access_request_pending",
            "user_id",
            "item_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_access_request_queue", "status", "created_at"),  # the curators' list
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(String(1000), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")  # granted, refused
    decided_by: Mapped[str] = mapped_column(String(80), default="")
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[User] = relationship()
    item: Mapped[Item] = relationship()


class SitePage(Model):
    """One of the site's own pages (about, contact, terms) as a curator wrote it: a title
    and a plain-text body per language, rendered by our own code, never as HTML."""

    __tablename__ = "site_page"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    body: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80), default="")


class SiteIdentity(Model):
    """The institution as the site shows it (one row): its name and footer per language,
    and its logo, stored in the object storage under ``logo_key``. ``generation`` grows
    with every change, so each process knows when its kept copy is old."""

    __tablename__ = "site_identity"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    footer: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    logo_key: Mapped[str] = mapped_column(String(120), default="")
    logo_type: Mapped[str] = mapped_column(String(40), default="")
    logo_width: Mapped[int] = mapped_column(default=0)
    logo_height: Mapped[int] = mapped_column(default=0)
    generation: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(80), default="")


class UsageClick(Model):
    """When a user last used an item in one way, for COUNTER's double-click rule across
    processes (services.usage). The key is a hash under the day's salt: no address is
    stored. Rows older than a few minutes are deleted as batches are written."""

    __tablename__ = "usage_click"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)  # UTC, naive
