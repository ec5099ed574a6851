"""The `tangthu` command group: a Flask CLI over the repository app."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup
from sqlalchemy.exc import OperationalError

from ..services.errors import ServiceError
from . import accounts, content, ingest, interop, operations, serve, worker


def register_commands(app: Flask) -> None:
    for module in (accounts, content, ingest, interop, operations, serve, worker):
        for command in module.COMMANDS:
            app.cli.add_command(plain_refusals(command))


def plain_refusals(command: click.Command) -> click.Command:
    """A refusal is a clear ``Error:`` line (and one line per reason), never a trace: a
    service's ServiceError, or a database that refuses (read-only, full, unreachable).

    What the command had not committed is rolled back when its app context ends."""
    original = command.invoke

    def invoke(ctx: click.Context) -> Any:
        try:
            return original(ctx)
        except ServiceError as exc:
            raise click.ClickException("\n".join(exc.lines())) from None
        except OperationalError as exc:
            raise click.ClickException(
                f"the database refused, so nothing was saved: {exc.orig}"
            ) from None

    command.invoke = invoke  # type: ignore[method-assign]
    return command


def _create_app() -> Flask:
    """The app for a command; a setting that cannot work is one Error: line naming it."""
    from .. import create_app
    from ..settings import SettingError

    try:
        return create_app()
    except SettingError as exc:
        raise click.ClickException(str(exc)) from None


main = FlaskGroup(create_app=_create_app, help="Tàng Thư repository commands.")
