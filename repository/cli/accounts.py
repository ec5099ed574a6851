"""Commands for the database and accounts."""

from __future__ import annotations

import secrets

import click
from flask.cli import with_appcontext

from .. import get_storage
from ..extensions import db, ensure_database
from ..models import Collection, ReaderGroup, User
from ..services.accounts import (
    CLI_MANAGER,
    GroupLabels,
    NewUser,
    create_account,
    create_group,
    create_user,
    set_disabled,
    set_membership,
)
from ..services.audit import record
from ..services.publish import collection_items, refresh_policies
from ..settings import current_settings
from ..web import publish_settings


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database to the newest schema (safe to run again)."""
    ensure_database()
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("create-user")
@click.argument("username")
@click.option("--admin", "role", flag_value="admin", help="An administrator.")
@click.option("--curator", "role", flag_value="curator", help="A curator.")
@click.option("--reader", "role", flag_value="reader", default=True, help="A reader (default).")
@click.password_option(envvar="TANGTHU_NEW_USER_PASSWORD", help="Or set TANGTHU_NEW_USER_PASSWORD.")
@with_appcontext
def create_user_command(username: str, role: str, password: str) -> None:
    """Create a user account."""
    ensure_database()
    user = create_account(NewUser(username, password, role), CLI_MANAGER)  # refusal: Error:
    click.echo(f"created {user.role} {user.username}")


def _find_user(username: str) -> User:
    found: User | None = db.session.execute(db.select(User).filter_by(username=username)).scalar()
    if found is None:
        raise click.ClickException(f"no user is called {username!r}")
    return found


@click.command("disable-user")
@click.argument("username")
@with_appcontext
def disable_user_command(username: str) -> None:
    """Disable an account: no sign-in of any kind; its sessions and image access end now."""
    user = _find_user(username)
    lifetime = current_settings().access_token_lifetime
    changed = set_disabled(user, True, CLI_MANAGER, get_storage(), lifetime)
    click.echo(f"disabled {username}" if changed else f"{username} was already disabled")


@click.command("enable-user")
@click.argument("username")
@with_appcontext
def enable_user_command(username: str) -> None:
    """Enable a disabled account again, with its password, role and groups as they were."""
    user = _find_user(username)
    lifetime = current_settings().access_token_lifetime
    changed = set_disabled(user, False, CLI_MANAGER, get_storage(), lifetime)
    click.echo(f"enabled {username}" if changed else f"{username} was not disabled")


@click.command("demo-admin")
@with_appcontext
def demo_admin() -> None:
    """Make a curator account for the demo and print its one-time password."""
    ensure_database()
    if db.session.execute(db.select(User).filter_by(username="curator")).scalar():
        click.echo("demo account: curator (password as printed when it was made)")
        return
    password = secrets.token_urlsafe(12)
    create_user(NewUser("curator", password, "admin"))
    click.echo(f"demo account: curator / {password}")


@click.group("group")
def group() -> None:
    """Reader groups: who may read restricted collections."""


def _find_group(name: str) -> ReaderGroup:
    found: ReaderGroup | None = db.session.execute(
        db.select(ReaderGroup).filter_by(name=name)
    ).scalar()
    if found is None:
        raise click.ClickException(f"no reader group is called {name!r}")
    return found


@group.command("add")
@click.argument("name")
@click.option("--label-vi", default="", help="The group's name for people, in Vietnamese.")
@click.option("--label-en", default="", help="The group's name for people, in English.")
@with_appcontext
def group_add(name: str, label_vi: str, label_en: str) -> None:
    """Create a reader group."""
    ensure_database()
    create_group(GroupLabels(name, label_vi, label_en), CLI_MANAGER)  # a refusal: Error:
    click.echo(f"created group {name}")


@group.command("member")
@click.argument("name")
@click.argument("username")
@click.option("--remove", is_flag=True, help="Take the user out of the group.")
@with_appcontext
def group_member(name: str, username: str, remove: bool) -> None:
    """Put a user in a reader group (or take them out)."""
    found = _find_group(name)
    user = _find_user(username)
    lifetime = current_settings().access_token_lifetime
    set_membership(found, user, not remove, CLI_MANAGER, get_storage(), lifetime)
    click.echo(f"{username}: {', '.join(g.name for g in user.groups) or 'no groups'}")


@group.command("collection")
@click.argument("name")
@click.argument("slug")
@with_appcontext
def group_collection(name: str, slug: str) -> None:
    """Let a reader group read a collection's restricted items (the image server at once)."""
    found = _find_group(name)
    collection = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
    if collection is None:
        raise click.ClickException(f"no collection has the slug {slug!r}")
    if found not in collection.groups:
        collection.groups.append(found)
    db.session.commit()
    refresh_policies(collection_items(collection.id), get_storage(), publish_settings())
    record("group-collection-added", "cli", target=slug, detail=name)
    click.echo(f"{slug}: readable by {', '.join(g.name for g in collection.groups)}")


COMMANDS = (
    init_db,
    create_user_command,
    disable_user_command,
    enable_user_command,
    demo_admin,
    group,
)
