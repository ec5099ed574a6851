"""Accounts: creation and password checks. Hashes are scrypt (werkzeug's default)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import User

ROLES = ("admin", "curator", "reader")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,80}$")
MIN_PASSWORD = 10
# Checked against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    password: str
    role: str = "reader"


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


def authenticate(username: str, password: str) -> User | None:
    user = db.session.execute(db.select(User).filter_by(username=username)).scalar()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None
