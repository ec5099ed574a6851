"""The `tangthu` command group: a Flask CLI over the repository app."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup
from sqlalchemy.exc import OperationalError

from . import accounts, content, interop, operations, serve


def register_commands(app: Flask) -> None:
    for module in (accounts, content, interop, operations, serve):
        for command in module.COMMANDS:
            app.cli.add_command(_clear_database_errors(command))


def _clear_database_errors(command: click.Command) -> click.Command:
    """A database that refuses (read-only, full, unreachable) is one clear line, not a trace."""
    original = command.invoke

    def invoke(ctx: click.Context) -> Any:
        try:
            return original(ctx)
        except OperationalError as exc:
            raise click.ClickException(
                f"the database refused, so nothing was saved: {exc.orig}"
            ) from None

    command.invoke = invoke  # type: ignore[method-assign]
    return command


def _create_app() -> Flask:
    from .. import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, help="Tàng Thư repository commands.")
