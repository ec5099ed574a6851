"""Accounts: creation, password checks and lock-out. Hashes are scrypt (werkzeug's default)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import LoginAttempt, User, utcnow

ROLES = ("admin", "curator", "reader")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,80}$")
MIN_PASSWORD = 10
# Checked against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(Exception):
    pass


class LockedOut(Exception):
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
        raise AccountError("usernames are 3–80 letters, digits or . _ @ -")
    if len(new.password) < MIN_PASSWORD:
        raise AccountError(f"passwords need at least {MIN_PASSWORD} characters")
    if new.role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    exists = db.session.execute(db.select(User).filter_by(username=new.username)).scalar()
    if exists is not None:
        raise AccountError(f"the username {new.username!r} is taken")
    user = User(
        username=new.username, password_hash=generate_password_hash(new.password), role=new.role
    )
    db.session.add(user)
    db.session.commit()
    return user


def _recent_failures(username: str, window: timedelta) -> int:
    since = utcnow() - window
    query = (
        db.select(db.func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.username == username, LoginAttempt.at >= since)
    )
    return int(db.session.execute(query).scalar_one())


def authenticate(
    username: str, password: str, lockout: Lockout, address: str | None = None
) -> User | None:
    """The user, None for a wrong password; LockedOut after too many recent failures."""
    window = timedelta(minutes=lockout.minutes)
    if _recent_failures(username, window) >= lockout.max_failures:
        raise LockedOut(lockout.minutes)
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar()
    if user is None or not user.password_hash:
        check_password_hash(_DUMMY_HASH, password)
        user = None
    elif not check_password_hash(user.password_hash, password):
        user = None
    if user is None:
        db.session.add(LoginAttempt(username=username[:80], address=(address or "")[:64]))
        db.session.commit()
        return None
    db.session.execute(db.delete(LoginAttempt).where(LoginAttempt.username == username))
    db.session.commit()
    return user
