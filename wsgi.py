"""WSGI entry points for gunicorn and the demo, as factories so importing builds nothing.

gunicorn 'wsgi:repository_app()'   # the repository, default port 8000
gunicorn 'wsgi:image_app()'        # the image server, default port 8182
"""

from __future__ import annotations

from typing import Any


def repository_app() -> Any:
    from repository import create_app

    return create_app()


def image_app() -> Any:
    from image_server import create_app

    return create_app()
