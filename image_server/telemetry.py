"""What operators watch: JSON logs with request ids, and Prometheus metrics by request
class, for any WSGI app (the image server here, and the repository, which may import it).

`Observed` wraps a WSGI app. Each request gets an id (the proxy's `X-Request-Id`, or a
new one), echoed in the response and in every log line written while it runs; it is
counted and timed by class (tile, info, manifest, search, page...), and `/metrics`
answers in Prometheus's text format. With several worker processes, set
`PROMETHEUS_MULTIPROC_DIR` so that `/metrics` adds up every worker.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

REQUESTS = Counter(
    "tangthu_requests_total", "Requests answered", ["app", "request_class", "status"]
)
LATENCY = Histogram(
    "tangthu_request_seconds",
    "Time to answer a request",
    ["app", "request_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CACHE = Counter("tangthu_cache_total", "Cache lookups", ["app", "cache", "result"])

_make_record = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every log record remembers the request it was written in."""
    record = _make_record(*args, **kwargs)
    record.request_id = REQUEST_ID.get()
    return record


if not getattr(_make_record, "tangthu", False):
    _record_with_request_id.tangthu = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(_record_with_request_id)

StartResponse = Callable[..., Any]
Classify = Callable[[str], str]


def cache_lookup(app: str, cache: str, hit: bool) -> None:
    """Count one lookup in a named cache; hit rate = hit / (hit + miss)."""
    CACHE.labels(app, cache, "hit" if hit else "miss").inc()


def image_request_class(path: str) -> str:
    if path.startswith("/iiif/"):
        if path.endswith("/info.json"):
            return "info"
        if path.endswith("/probe"):
            return "probe"
        return "tile"
    return "health" if path in ("/health", "/ready") else "other"


def repository_request_class(path: str) -> str:
    if path.startswith("/iiif/"):
        if path.endswith("/manifest"):
            return "manifest"
        if "/search" in path or "/autocomplete" in path:
            return "content-search"
        if path.startswith(("/iiif/collection", "/iiif/2/collection")):
            return "collection"
        if path.startswith("/iiif/discovery"):
            return "discovery"
        return "iiif"
    if path.startswith("/search"):
        return "search"
    if path.startswith("/oai"):
        return "oai"
    if path.startswith(("/static/", "/viewer/static/")):
        return "static"
    if path.startswith("/admin"):
        return "admin"
    if path.startswith("/auth"):
        return "auth"
    if path in ("/health", "/ready", "/metrics"):
        return "health"
    return "page"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, app."""

    def __init__(self, app: str) -> None:
        super().__init__()
        self.app = app

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "app": self.app,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "") or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        for name in ("method", "path", "status", "duration_ms", "request_class", "client"):
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(app: str, level: str = "INFO") -> None:
    """JSON lines on stderr for every logger, unless TANGTHU_LOG_FORMAT=text."""
    root = logging.getLogger()
    if any(getattr(h, "tangthu", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.tangthu = True  # type: ignore[attr-defined]
    if os.environ.get("TANGTHU_LOG_FORMAT", "json") == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(app))
    root.addHandler(handler)
    root.setLevel(os.environ.get("TANGTHU_LOG_LEVEL", level).upper())  # gunicorn says "info"


def metrics_body() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))
    return bytes(generate_latest())


class Observed:
    """A WSGI app, with request ids, access logs, metrics, and `/metrics`."""

    def __init__(self, app: Callable[..., Iterable[bytes]], name: str, classify: Classify) -> None:
        self.app = app
        self.name = name
        self.classify = classify
        self.log = logging.getLogger(f"tangthu.{name}.access")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        offered = str(environ.get("HTTP_X_REQUEST_ID", ""))
        request_id = offered if _ID.match(offered) else secrets.token_hex(8)
        environ["tangthu.request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        path = str(environ.get("PATH_INFO", ""))
        started = time.perf_counter()
        if path == "/metrics":
            body = metrics_body()
            start_response(
                "200 OK",
                [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))],
            )
            REQUEST_ID.reset(token)
            return [body]
        status = ["500"]

        def record_status(status_line: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            status[0] = status_line.split(" ", 1)[0]
            headers.append(("X-Request-Id", request_id))
            return start_response(status_line, headers, *rest)

        try:
            return self.app(environ, record_status)
        finally:
            elapsed = time.perf_counter() - started
            kind = self.classify(path)
            REQUESTS.labels(self.name, kind, status[0]).inc()
            LATENCY.labels(self.name, kind).observe(elapsed)
            if kind != "health":
                self.log.info(
                    "%s %s %s",
                    environ.get("REQUEST_METHOD", ""),
                    path,
                    status[0],
                    extra={
                        "method": environ.get("REQUEST_METHOD", ""),
                        "path": path,
                        "status": int(status[0]) if status[0].isdigit() else 0,
                        "duration_ms": round(elapsed * 1000, 2),
                        "request_class": kind,
                    },
                )
            REQUEST_ID.reset(token)
