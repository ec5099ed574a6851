"""The audit log: sign-ins, failed sign-ins, role and group changes, access, publishing."""

from __future__ import annotations

from ..extensions import db
from ..models import AuditEvent


def record(
    action: str, actor: str = "", target: str = "", detail: str = "", address: str | None = ""
) -> None:
    db.session.add(
        AuditEvent(
            action=action,
            actor=actor[:80],
            target=target[:120],
            detail=detail[:1000],
            address=(address or "")[:64],
        )
    )
    db.session.commit()
