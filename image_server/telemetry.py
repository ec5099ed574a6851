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
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
SLOW_SECONDS = 1.0  # a quiet request class is still logged when it takes this long
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus's text format

StartResponse = Callable[..., Any]
Classify = Callable[[str], str]


class Metrics:
    """The Prometheus metrics, made once per process by the app factory (never at import).

    Label children are kept, so counting a request is two dictionary lookups and two
    additions under prometheus_client's own locks."""

    _made: Metrics | None = None
    _making = threading.Lock()

    def __init__(self) -> None:
        # Loaded with the first request, not at start-up: an idle worker stays small.
        from prometheus_client import Counter, Histogram

        self.requests = Counter(
            "tangthu_requests_total", "Requests answered", ["app", "request_class", "status"]
        )
        self.latency = Histogram(
            "tangthu_request_seconds",
            "Time to answer a request",
            ["app", "request_class"],
            buckets=BUCKETS,
        )
        self.cache = Counter("tangthu_cache_total", "Cache lookups", ["app", "cache", "result"])
        self._children: dict[tuple[str, ...], Any] = {}

    @classmethod
    def get(cls) -> Metrics:
        """This process's metrics (the default registry allows each name once)."""
        with cls._making:  # two first requests at once must not register twice
            if cls._made is None:
                cls._made = cls()
        return cls._made

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)  # noqa: SLF001 - the metric's name tells them apart
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def answered(self, app: str, kind: str, status: str, seconds: float) -> None:
        self._child(self.requests, app, kind, status).inc()
        self._child(self.latency, app, kind).observe(seconds)

    def looked_up(self, app: str, cache: str, hit: bool) -> None:
        self._child(self.cache, app, cache, "hit" if hit else "miss").inc()


def cache_lookup(app: str, cache: str, hit: bool) -> None:
    """Count one lookup in a named cache; hit rate = hit / (hit + miss)."""
    if Metrics._made is not None:  # noqa: SLF001 - only where an app turned metrics on
        Metrics._made.looked_up(app, cache, hit)  # noqa: SLF001


def image_request_class(path: str) -> str:
    if path.startswith("/iiif/"):
        if path.endswith("/info.json"):
            return "info"
        if path.endswith("/probe"):
            return "probe"
        return "tile"
    return "health" if path in ("/health", "/ready") else "other"


# The image server's tiles come by the hundred per page view: their access lines are the
# front server's (granian's --access-log in deploy/); ours only for failures and slowness.
IMAGE_QUIET_CLASSES = frozenset({"tile", "health"})


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


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every log record remembers the request it was written in."""
    record = _make_record(*args, **kwargs)
    record.request_id = REQUEST_ID.get()
    return record


_make_record = logging.getLogRecordFactory()


def stamp_request_ids() -> None:
    """Make every log record carry the id of the request it was written in."""
    global _make_record
    current = logging.getLogRecordFactory()
    if current is not _record_with_request_id:
        _make_record = current
        logging.setLogRecordFactory(_record_with_request_id)


def configure_logging(app: str, level: str = "INFO") -> None:
    """JSON lines on stderr for every logger, unless TANGTHU_LOG_FORMAT=text; every record
    carries the request id."""
    stamp_request_ids()
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
    from prometheus_client import generate_latest

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import CollectorRegistry, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))
    return bytes(generate_latest())


class Observed:
    """A WSGI app, with request ids, access logs, metrics, and `/metrics`.

    Requests of a ``quiet`` class are logged only when they fail or are slow."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        name: str,
        classify: Classify,
        quiet: frozenset[str] = frozenset({"health"}),
    ) -> None:
        self.app = app
        self.name = name
        self.classify = classify
        self.quiet = quiet
        self._metrics: Metrics | None = None
        stamp_request_ids()
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
                [("Content-Type", METRICS_TYPE), ("Content-Length", str(len(body)))],
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
            if self._metrics is None:
                self._metrics = Metrics.get()
            self._metrics.answered(self.name, kind, status[0], elapsed)
            if kind not in self.quiet or status[0] >= "400" or elapsed >= SLOW_SECONDS:
                self.access_line(environ, path, status[0], kind, elapsed)
            REQUEST_ID.reset(token)

    def access_line(
        self, environ: dict[str, Any], path: str, status: str, kind: str, elapsed: float
    ) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return
        method = environ.get("REQUEST_METHOD", "")
        self.log.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "method": method,
                "path": path,
                "status": int(status) if status.isdigit() else 0,
                "duration_ms": round(elapsed * 1000, 2),
                "request_class": kind,
            },
        )
