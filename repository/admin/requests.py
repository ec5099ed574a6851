"""Readers' requests to read restricted items: curators grant (into a reader group the
item's collection allows) or refuse them, and each decision goes into the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from .. import get_storage
from ..extensions import db
from ..models import AccessRequest, Collection, Item, ReaderGroup, User, utcnow
from ..public.access_requests import STATUS_LABELS, RequestStatus, allowed_groups
from ..services.accounts import revoke_access
from ..services.audit import record
from ..services.errors import Conflict, NotFound, Refused
from ..settings import current_settings
from ..web import client_address
from .blueprint import bp

DECIDED_SHOWN = 50  # the most recent decisions listed under the pending requests


@dataclass(frozen=True, slots=True)
class Decision:
    """A curator's answer to one request; ``group_id`` only for a grant."""

    request_id: int
    curator: str
    address: str | None = None
    group_id: int | None = None


def _settle(decision: Decision, status: RequestStatus) -> AccessRequest:
    """Move a pending request to ``status``, once: a second decision (two curators at the
    same moment, or a form sent twice) finds it decided and is refused."""
    found = db.session.get(AccessRequest, decision.request_id)
    if found is None:
        raise NotFound(_("There is nothing at this address."))
    moved = db.session.execute(
        db.update(AccessRequest)
        .where(AccessRequest.id == found.id, AccessRequest.status == RequestStatus.PENDING.value)
        .values(status=status.value, decided_by=decision.curator[:80], decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        raise Conflict(_("This request has already been decided."))
    db.session.refresh(found)
    return found


def grant(decision: Decision, token_lifetime: int) -> AccessRequest:
    """Put the reader in the chosen group, which must be one the item's collection allows.

    Their sessions and access cookies carry their old groups, so they end, as every change
    of groups ends them: the reader signs in again and reads the item."""
    found = db.session.get(AccessRequest, decision.request_id)
    if found is None:
        raise NotFound(_("There is nothing at this address."))
    groups = {group.id: group for group in allowed_groups(found.item)}
    group = groups.get(decision.group_id or 0)
    if group is None:
        reason = _("Choose one of the reader groups that may read this item.")
        raise Refused(reason, fields={"group": reason})
    settled = _settle(decision, RequestStatus.GRANTED)
    reader = settled.user
    if group not in reader.groups:
        reader.groups.append(group)
    db.session.commit()
    revoke_access(reader, get_storage(), token_lifetime)
    record(
        "access-granted",
        decision.curator,
        target=f"{reader.username} {settled.item_id}",
        detail=f"request {settled.id}; group {group.name}",
        address=decision.address,
    )
    return settled


def refuse(decision: Decision) -> AccessRequest:
    settled = _settle(decision, RequestStatus.REFUSED)
    db.session.commit()
    record(
        "access-refused",
        decision.curator,
        target=f"{settled.user.username} {settled.item_id}",
        detail=f"request {settled.id}",
        address=decision.address,
    )
    return settled


def _listed(query: Select[Any]) -> Sequence[AccessRequest]:
    """The requests, with their readers, items and the groups that may read them."""
    return (
        db.session.execute(
            query.options(
                selectinload(AccessRequest.user).selectinload(User.groups),
                selectinload(AccessRequest.item)
                .selectinload(Item.collection)
                .selectinload(Collection.groups),
            )
        )
        .scalars()
        .all()
    )


@bp.get("/requests")
def access_requests() -> str:
    """Pending requests, oldest first, with the groups each may be granted; then the latest
    decisions."""
    pending = _listed(
        db.select(AccessRequest)
        .where(AccessRequest.status == RequestStatus.PENDING.value)
        .order_by(AccessRequest.created_at, AccessRequest.id)
    )
    decided = _listed(
        db.select(AccessRequest)
        .where(AccessRequest.status != RequestStatus.PENDING.value)
        .order_by(AccessRequest.decided_at.desc(), AccessRequest.id.desc())
        .limit(DECIDED_SHOWN)
    )
    choices: dict[int, list[ReaderGroup]] = {r.id: allowed_groups(r.item) for r in pending}
    return render_template(
        "admin/requests.html",
        pending=pending,
        decided=decided,
        choices=choices,
        labels=STATUS_LABELS,
    )


def _chosen_group() -> int | None:
    value = request.form.get("group", "")
    return int(value) if value.isdigit() and len(value) < 10 else None


@bp.post("/requests/<int:request_id>/grant")
def grant_request(request_id: int) -> Response:
    decision = Decision(request_id, current_user.username, client_address(), _chosen_group())
    settled = grant(decision, current_settings().access_token_lifetime)
    flash(_("Access granted to %(reader)s.", reader=settled.user.username))
    return redirect(url_for("admin.access_requests"))


@bp.post("/requests/<int:request_id>/refuse")
def refuse_request(request_id: int) -> Response:
    settled = refuse(Decision(request_id, current_user.username, client_address()))
    flash(_("Request from %(reader)s refused.", reader=settled.user.username))
    return redirect(url_for("admin.access_requests"))
