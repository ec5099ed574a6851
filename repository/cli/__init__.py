"""The `tangthu` command group: a Flask CLI over the repository app."""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup

from . import accounts, content, interop, operations, serve


def register_commands(app: Flask) -> None:
    for module in (accounts, content, interop, operations, serve):
        for command in module.COMMANDS:
            app.cli.add_command(command)


def _create_app() -> Flask:
    from .. import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, help="Tàng Thư repository commands.")
