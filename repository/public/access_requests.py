"""Reading a restricted item: who may read it, in words, and readers asking for access.

The decision is the access service's (``services.access``): this module only puts its
answer into words for the item page, and keeps readers' requests, which curators grant or
refuse in the admin (``admin.requests``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import TextAreaField
from wtforms.validators import Length

from image_server.policy import Credential, group_credential

from ..extensions import db
from ..models import AccessRequest, Item, ReaderGroup
from ..services.access import Access, Viewer, can_see_item, full_access_grants, image_access
from ..services.audit import record
from ..services.errors import Conflict, NotFound, Refused
from ..web import client_address, current_viewer, localized
from .blueprint import bp

MAX_MESSAGE = 1000  # characters of a reader's note to the curators (the column's length)
SHOWN_REQUESTS = 10  # a reader's own requests for one item, newest first


class Audience(StrEnum):
    """Who may read an item's images in full, as the item page says it."""

    READERS = "readers"  # any signed-in reader
    GROUPS = "groups"  # members of the collection's reader groups
    ONSITE = "onsite"  # anyone in the reading room
    STAFF = "staff"


class RequestStatus(StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    REFUSED = "refused"


STATUS_LABELS = {
    RequestStatus.PENDING: _l("Pending"),
    RequestStatus.GRANTED: _l("Granted"),
    RequestStatus.REFUSED: _l("Refused"),
}


def allowed_groups(item: Item) -> list[ReaderGroup]:
    """The reader groups whose members the access service lets read the item in full."""
    grants = full_access_grants(item)
    groups = item.collection.groups if item.collection else []
    return [group for group in groups if group_credential(group.name) in grants]


def audience(item: Item) -> Audience:
    """The widest audience among those the access service grants full access to."""
    grants = full_access_grants(item)
    if Credential.READER.value in grants:
        return Audience.READERS
    if allowed_groups(item):
        return Audience.GROUPS
    if Credential.ONSITE.value in grants:
        return Audience.ONSITE
    return Audience.STAFF


@dataclass(frozen=True, slots=True)
class Reading:
    """What the item page says about reading the item, for one viewer."""

    access: Access  # what this viewer gets of the images
    audience: Audience
    groups: tuple[ReaderGroup, ...]  # who may read it, for Audience.GROUPS
    requests: tuple[AccessRequest, ...]  # this reader's own requests, newest first
    signed_in: bool

    @property
    def sees_pixels(self) -> bool:
        return self.access in (Access.FULL, Access.DEGRADED)

    @property
    def pending(self) -> AccessRequest | None:
        return next((r for r in self.requests if r.status == RequestStatus.PENDING), None)

    @property
    def who(self) -> str:
        """Who may read the item, in one sentence in the reader's language."""
        if self.access is Access.DEGRADED:
            text = _(
                "Everyone sees these pages at a reduced size; signed-in readers see them in full."
            )
        elif self.audience is Audience.READERS:
            text = _("Signed-in readers may read this item.")
        elif self.audience is Audience.GROUPS:
            names = ", ".join(localized(group.label) or group.name for group in self.groups)
            text = _("Members of %(groups)s may read this item.", groups=names)
        elif self.audience is Audience.ONSITE:
            text = _("This item may be read in the library's reading room.")
        else:
            text = _("Only library staff may read this item.")
        return str(text)

    @property
    def may_request(self) -> bool:
        """A signed-in reader who gets nothing, of an item a curator could open to them."""
        return (
            self.signed_in
            and self.access is Access.NONE
            and bool(self.groups)
            and self.pending is None
        )


def reading(viewer: Viewer, user_id: int | None, item: Item) -> Reading:
    """The access service's answer for this viewer, with the reader's own requests."""
    groups = tuple(allowed_groups(item))
    requests: tuple[AccessRequest, ...] = ()
    if user_id is not None:
        requests = tuple(
            db.session.execute(
                db.select(AccessRequest)
                .filter_by(user_id=user_id, item_id=item.id)
                .order_by(AccessRequest.created_at.desc(), AccessRequest.id.desc())
                .limit(SHOWN_REQUESTS)
            ).scalars()
        )
    return Reading(image_access(viewer, item), audience(item), groups, requests, viewer.signed_in)


@dataclass(frozen=True, slots=True)
class NewRequest:
    user_id: int
    username: str
    item_id: str
    message: str
    address: str | None = None


def submit_request(new: NewRequest, viewer: Viewer) -> AccessRequest:
    """Keep a reader's request; refused when they may read already or could not be let in,
    when the note is too long, and when one of theirs for the item is still pending."""
    item = db.session.get(Item, new.item_id)
    if item is None or not can_see_item(viewer, item):
        raise NotFound(_("There is nothing at this address."))
    message = new.message.strip()
    if len(message) > MAX_MESSAGE:
        reason = _("The message may have at most %(max)d characters.", max=MAX_MESSAGE)
        raise Refused(reason, fields={"message": reason})
    state = reading(viewer, new.user_id, item)
    if state.pending is not None:
        raise Conflict(_("You have already asked to read this item; your request is pending."))
    if not state.may_request:
        raise Conflict(_("Access to this item cannot be requested."))
    request = AccessRequest(user_id=new.user_id, item_id=item.id, message=message)
    db.session.add(request)
    try:
        db.session.commit()
    except IntegrityError:  # a second request that raced the first: one pending is kept
        db.session.rollback()
        raise Conflict(
            _("You have already asked to read this item; your request is pending.")
        ) from None
    record(
        "access-requested",
        new.username,
        target=item.id,
        detail=f"request {request.id}",
        address=new.address,
    )
    return request


class RequestForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    message = TextAreaField(
        _l("Why you need to read it (optional)"),
        validators=[
            Length(max=MAX_MESSAGE, message=_l("The message may have at most %(max)d characters."))
        ],
        render_kw={"maxlength": MAX_MESSAGE, "rows": 5},
    )


@bp.route("/items/<item_id>/request-access", methods=["GET", "POST"])
def request_access(item_id: str) -> str | Response | tuple[str, int]:
    """A signed-in reader asks the curators to read a restricted item."""
    item = db.get_or_404(Item, item_id)
    viewer = current_viewer()
    if not can_see_item(viewer, item):
        abort(404)
    here = url_for("public.request_access", item_id=item.id)
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=here))
    state = reading(viewer, current_user.id, item)
    if state.sees_pixels:
        return redirect(url_for("public.item", item_id=item.id))
    form = RequestForm()
    status, refusal = 200, ""
    if form.validate_on_submit():
        new = NewRequest(
            current_user.id,
            current_user.username,
            item.id,
            form.message.data or "",
            client_address(),
        )
        try:
            submit_request(new, viewer)
        except (Refused, Conflict) as refused:
            status, refusal = refused.status, refused.message
            state = reading(viewer, current_user.id, item)
        else:
            flash(_("Your request has been sent to the curators."))
            return redirect(url_for("public.item", item_id=item.id))
    elif form.errors:
        status = 422
    page = render_template(
        "public/request_access.html",
        item=item,
        reading=state,
        form=form,
        refusal=refusal,
        labels=STATUS_LABELS,
    )
    return page, status
