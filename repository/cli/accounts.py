"""Commands for the database and accounts."""

from __future__ import annotations

import secrets

import click
from flask.cli import with_appcontext

from ..extensions import db
from ..models import User
from ..services.accounts import AccountError, NewUser, create_user
from ..services.audit import record


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the database tables (safe to run again)."""
    db.create_all()
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
    db.create_all()
    try:
        user = create_user(NewUser(username, password, role))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    record("user-created", "cli", target=user.username, detail=f"role {user.role}")
    click.echo(f"created {user.role} {user.username}")


@click.command("demo-admin")
@with_appcontext
def demo_admin() -> None:
    """Make a curator account for the demo and print its one-time password."""
    db.create_all()
    if db.session.execute(db.select(User).filter_by(username="curator")).scalar():
        click.echo("demo account: curator (password as printed when it was made)")
        return
    password = secrets.token_urlsafe(12)
    create_user(NewUser("curator", password, "admin"))
    click.echo(f"demo account: curator / {password}")


COMMANDS = (init_db, create_user_command, demo_admin)
