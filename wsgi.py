"""WSGI entry points for gunicorn, granian and the demo, as factories so importing builds
nothing.

gunicorn 'wsgi:repository_app()'   # the repository, default port 8000
gunicorn 'wsgi:image_app()'        # the image server, default port 8182

Both log JSON lines with request ids (TANGTHU_LOG_FORMAT=text for plain lines) and
answer /metrics for Prometheus.
"""

from __future__ import annotations

from typing import Any


def repository_app() -> Any:
    from image_server.telemetry import Observed, configure_logging, repository_request_class
    from repository import create_app

    configure_logging("repository")
    app = create_app()
    app.wsgi_app = Observed(app.wsgi_app, "repository", repository_request_class)  # type: ignore[method-assign]
    return app


def image_app() -> Any:
    from image_server import create_app
    from image_server.telemetry import Observed, configure_logging, image_request_class

    configure_logging("image")
    return Observed(create_app(), "image", image_request_class)
