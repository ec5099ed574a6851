"""Accounts: creation, password checks and lock-out. Hashes are scrypt (werkzeug's default)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import has_request_context
from flask_babel import gettext
from werkzeug.security import check_password_hash, generate_password_hash

from image_server.policy import REVOCATIONS_KEY

from ..extensions import db
from ..models import Collection, LoginAttempt, ReaderGroup, User, utcnow
from ..storage import Storage
from .audit import record
from .errors import Conflict, Refused
from .publish import PublishSettings

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
    if not check_password_hash(user.password_hash, password) or user.disabled:
        return None  # a disabled account is told nothing more than a wrong password
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


# Managing accounts and reader groups: the command line and the web admin both call these,
# so a refusal on one is the same refusal on the other.


def _(text: str, **values: object) -> str:
    """In the reader's language on a web page; in English on the command line."""
    if has_request_context():
        return str(gettext(text, **values))
    return text % values if values else text


GROUP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
MAX_LABEL = 200


@dataclass(frozen=True, slots=True)
class Manager:
    """Who changes accounts or groups: the command line acts as an administrator."""

    username: str
    role: str
    address: str | None = None


CLI_MANAGER = Manager("cli", "admin")


@dataclass(frozen=True, slots=True)
class GroupLabels:
    name: str
    label_vi: str = ""
    label_en: str = ""


@dataclass(frozen=True, slots=True)
class GroupImpact:
    """What deleting a group changes: who loses it, and which collections' items."""

    users: int
    collections: int
    items: int


def _may_give(manager: Manager, role: str) -> None:
    """Only an administrator makes or changes staff (curators and administrators)."""
    if role not in ROLES:
        reason = _("Choose a role from the list.")
        raise Refused(reason, fields={"role": reason})
    if role != "reader" and manager.role != "admin":
        raise Refused(_("Only an administrator may make someone a curator or an administrator."))


def _may_change(manager: Manager, user: User) -> None:
    if user.username == manager.username:
        raise Refused(_("You cannot change your own role or disable your own account."))
    if user.role != "reader" and manager.role != "admin":
        raise Refused(
            _("Only an administrator may change a curator's or an administrator's account.")
        )


def create_account(new: NewUser, manager: Manager) -> User:
    """A new account, if the manager may give its role; audited."""
    _may_give(manager, new.role)
    user = create_user(new)
    record("user-created", manager.username, user.username, f"role {user.role}", manager.address)
    return user


def set_role(
    user: User, role: str, manager: Manager, storage: Storage, token_lifetime: int
) -> None:
    """Change a role; the user's sessions end, so the new role holds at once."""
    _may_give(manager, role)
    _may_change(manager, user)
    if user.role == role:
        return
    before, user.role = user.role, role
    db.session.commit()
    revoke_access(user, storage, token_lifetime)
    record("role-changed", manager.username, user.username, f"{before} -> {role}", manager.address)


def is_disabled(user: User) -> bool:
    """No sign-in of any kind: password, single sign-on, session or access token."""
    return user.disabled


def set_disabled(
    user: User, disabled: bool, manager: Manager, storage: Storage, token_lifetime: int
) -> bool:
    """Disable an account (its sessions and access tokens end at once) or enable it again;
    its password, groups and history stay. Whether anything changed."""
    _may_change(manager, user)
    if user.disabled == disabled:
        return False
    user.disabled = disabled
    if disabled:  # in the same commit as the new epoch: no moment with either alone
        revoke_access(user, storage, token_lifetime)
    else:
        db.session.commit()
    action = "user-disabled" if disabled else "user-enabled"
    record(action, manager.username, user.username, "", manager.address)
    return True


def _labels(spec: GroupLabels) -> dict[str, str]:
    if not GROUP_NAME.fullmatch(spec.name):
        reason = _("A group's short name is lowercase letters, digits and -.")
        raise Refused(reason, fields={"name": reason})
    vi, en = spec.label_vi.strip(), spec.label_en.strip()
    if len(vi) > MAX_LABEL or len(en) > MAX_LABEL:
        raise Refused(_("A group's name is at most %(limit)d characters.", limit=MAX_LABEL))
    return {"vi": vi or spec.name, "en": en or spec.name}


def _name_free(name: str, keep: ReaderGroup | None = None) -> None:
    found = db.session.execute(db.select(ReaderGroup).filter_by(name=name)).scalar()
    if found is not None and found is not keep:
        reason = _("The group %(name)s exists already.", name=name)
        raise Conflict(reason, fields={"name": reason})


def create_group(spec: GroupLabels, manager: Manager) -> ReaderGroup:
    label = _labels(spec)
    _name_free(spec.name)
    group = ReaderGroup(name=spec.name, label=label)
    db.session.add(group)
    db.session.commit()
    record("group-created", manager.username, spec.name, "", manager.address)
    return group


def rename_group(group: ReaderGroup, spec: GroupLabels, manager: Manager) -> None:
    """New name and labels. Its members keep their sessions: what they may read is the same."""
    label = _labels(spec)
    _name_free(spec.name, keep=group)
    before = group.name
    group.name, group.label = spec.name, label
    db.session.commit()
    record("group-renamed", manager.username, spec.name, f"was {before}", manager.address)


def set_membership(
    group: ReaderGroup,
    user: User,
    member: bool,
    manager: Manager,
    storage: Storage,
    token_lifetime: int,
) -> None:
    """Put a user in a group or take them out; their sessions carry the old groups, so
    they end. A curator may not change a staff account's groups (nor end its sessions)."""
    if user.role != "reader" and manager.role != "admin":
        raise Refused(
            _("Only an administrator may change a curator's or an administrator's account.")
        )
    if member and group not in user.groups:
        user.groups.append(group)
    elif not member and group in user.groups:
        user.groups.remove(group)
    db.session.commit()
    revoke_access(user, storage, token_lifetime)
    action = "group-member-added" if member else "group-member-removed"
    record(action, manager.username, user.username, group.name, manager.address)


def group_impact(group: ReaderGroup) -> GroupImpact:
    """How many readers are in the group, and the collections and items it opens."""
    from ..models import Item, collection_groups, user_groups

    users = db.session.execute(
        db.select(db.func.count())
        .select_from(user_groups)
        .where(user_groups.c.group_id == group.id)
    ).scalar_one()
    collection_ids = db.select(collection_groups.c.collection_id).where(
        collection_groups.c.group_id == group.id
    )
    collections = db.session.execute(
        db.select(db.func.count()).select_from(Collection).where(Collection.id.in_(collection_ids))
    ).scalar_one()
    items = db.session.execute(
        db.select(db.func.count()).select_from(Item).where(Item.collection_id.in_(collection_ids))
    ).scalar_one()
    return GroupImpact(int(users), int(collections), int(items))


def delete_group(
    group: ReaderGroup,
    manager: Manager,
    storage: Storage,
    token_lifetime: int,
    settings: PublishSettings,
) -> GroupImpact:
    """Delete a group: its members' sessions end and its collections' image sidecars are
    written again without it."""
    from .publish import collection_items, refresh_policies

    impact = group_impact(group)
    members = list(db.session.execute(db.select(User).where(User.groups.contains(group))).scalars())
    collections = [
        c.id
        for c in db.session.execute(
            db.select(Collection).where(Collection.groups.contains(group))
        ).scalars()
    ]
    name = group.name
    db.session.delete(group)
    db.session.commit()
    for collection_id in collections:
        refresh_policies(collection_items(collection_id), storage, settings)
    for user in members:
        revoke_access(user, storage, token_lifetime)
    record(
        "group-deleted",
        manager.username,
        name,
        f"{impact.users} users, {impact.collections} collections, {impact.items} items",
        manager.address,
    )
    return impact
