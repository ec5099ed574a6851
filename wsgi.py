"""WSGI entry points for gunicorn, granian and the demo, as factories so importing builds
nothing.

gunicorn 'wsgi:repository_app()'   # the repository, default port 8000
gunicorn 'wsgi:image_app()'        # the image server, default port 8182

Both log JSON lines with request ids (TANGTHU_LOG_FORMAT=text for plain lines) and
answer /metrics for Prometheus. Installed packages offer the same as
`repository:serve()` and `image_server:serve()` (see deploy/).
"""

from __future__ import annotations

from typing import Any


def repository_app() -> Any:
    from repository import serve

    return serve()


def image_app() -> Any:
    from image_server import serve

    return serve()
