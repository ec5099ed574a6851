"""Accounts: creation, password checks and lock-out. Hashes are scrypt (werkzeug's default)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from image_server.policy import REVOCATIONS_KEY

from ..extensions import db
from ..models import LoginAttempt, User, utcnow
from ..storage import Storage
from .errors import Conflict, Refused

ROLES = ("admin", "curator", "reader")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,80}$")
MIN_PASSWORD = 10


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user does not exist, so timing does not reveal usernames;
    made on first use, not when the module is imported."""
    return generate_password_hash("not-a-real-password")


class LockedOut(Refused):
    """Too many failed sign-ins: the account is locked for ``minutes``."""

    status = 429

    def __init__(self, minutes: int) -> None:
        super().__init__(f"locked for {minutes} minutes")
        self.minutes = minutes


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    password: str
    role: str = "reader"


@dataclass(frozen=True, slots=True)
class Lockout:
    max_failures: int
    minutes: int


def create_user(new: NewUser) -> User:
    if not _USERNAME.match(new.username):
        raise Refused("usernames are 3–80 letters, digits or . _ @ -")
    if len(new.password) < MIN_PASSWORD:
        raise Refused(f"passwords need at least {MIN_PASSWORD} characters")
    if new.role not in ROLES:
        raise Refused(f"role must be one of {', '.join(ROLES)}")
    exists = db.session.execute(db.select(User).filter_by(username=new.username)).scalar()
    if exists is not None:
        raise Conflict(f"the username {new.username!r} is taken")
    user = User(
        username=new.username, password_hash=generate_password_hash(new.password), role=new.role
    )
    db.session.add(user)
    db.session.commit()
    return user


def _attempts(username: str, address: str, since: datetime) -> int:
    query = (
        db.select(db.func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.username == username,
            LoginAttempt.address == address,
            LoginAttempt.at >= since,
        )
    )
    return int(db.session.execute(query).scalar_one())


def authenticate(
    username: str, password: str, lockout: Lockout, address: str | None = None
) -> User | None:
    """The user, None for a wrong password; LockedOut after too many recent failures.

    Failures count per account and client address, so that someone elsewhere cannot lock
    an administrator out by failing on purpose. Each attempt is written down before the
    password is checked, and the count read after, so parallel guesses cannot slip past
    the limit: the n-th attempt to commit sees at least n."""
    username, where = username[:80], (address or "")[:64]
    attempt = LoginAttempt(username=username, address=where)
    db.session.add(attempt)
    db.session.commit()
    window = timedelta(minutes=lockout.minutes)
    if _attempts(username, where, utcnow() - window) > lockout.max_failures:
        raise LockedOut(lockout.minutes)
    user: User | None = db.session.execute(db.select(User).filter_by(username=username)).scalar()
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    db.session.execute(
        db.delete(LoginAttempt).where(
            LoginAttempt.username == username, LoginAttempt.address == where
        )
    )
    db.session.commit()
    return user


def revoke_access(user: User, storage: Storage, token_lifetime: int) -> None:
    """End every session and access token the user holds: after sign-out, or a change of
    role or groups. The image server learns it from the revocation list in storage."""
    user.access_epoch += 1
    user.epoch_changed_at = utcnow()
    db.session.commit()
    write_revocations(storage, token_lifetime)


def write_revocations(storage: Storage, token_lifetime: int) -> None:
    """The revocation list, rebuilt from the accounts: the epochs advanced within the
    longest token lifetime (older tokens have expired anyway)."""
    since = utcnow() - timedelta(seconds=token_lifetime + 60)
    rows = db.session.execute(
        db.select(User.username, User.access_epoch).where(User.epoch_changed_at >= since)
    ).all()
    document = {"epochs": {username: epoch for username, epoch in rows}}
    storage.put_bytes(REVOCATIONS_KEY, json.dumps(document, sort_keys=True).encode())
