"""The repository as deployed (gunicorn), and what is measured of it: wrk latencies per
page, every answer's kind checked first, the app's peak memory, and the export's first byte."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.tiles.procs import HOST, http_get, process_tree

ROOT = Path(__file__).resolve().parents[2]
LUA = Path(__file__).with_name("paths.lua")


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Memory:
    """Samples the summed RSS of a process tree every 0.1 s, from a thread."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = 0
        self.window_peak = 0
        self.trace: list[tuple[float, int]] = []
        self.tracing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        return sum(rss_kb(pid) for pid in process_tree(self.root))

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            value = self.now()
            self.peak = max(self.peak, value)
            self.window_peak = max(self.window_peak, value)
            if self.tracing:
                self.trace.append((time.monotonic(), value))

    def window(self) -> None:
        self.window_peak = self.now()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Server:
    """gunicorn 'wsgi:repository_app()' with 2 gthread workers of 4 threads, as deployed."""

    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--chdir",
                str(ROOT),
                "-b",
                f"{HOST}:{port}",
                "-w",
                "2",
                "-k",
                "gthread",
                "--threads",
                "4",
                "--no-control-socket",
                "--log-level",
                "warning",
                "--timeout",
                "120",
                "wsgi:repository_app()",
            ],
            env={**os.environ, **env, "TANGTHU_LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
        )
        self.base = f"http://{HOST}:{port}"
        for _ in range(300):
            if self.process.poll() is not None:
                raise SystemExit("gunicorn stopped at start")
            try:
                if http_get(self.base + "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("gunicorn did not come up")
        time.sleep(0.5)  # both workers
        self.memory = Memory(self.process.pid)

    def stop(self) -> None:
        self.memory.stop()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Page:
    """One measured page: its paths and what every answer must look like."""

    name: str
    paths: list[str]
    kind: Callable[[str, bytes], str | None]  # content type, body -> a fault, or None
    figures: dict[str, Any] = field(default_factory=dict)
    # Checked before the load instead of ``paths``, so that the load asks only what the
    # app has never answered (nothing of it kept): a page of first requests.
    probes: list[str] | None = None


def check(base: str, page: Page) -> tuple[float, list[str]]:
    """Every path once: a 2xx of the right kind, or the faults; and the slowest of these
    first requests, in ms (before any of the app's own keeping)."""
    faults, slowest = [], 0.0
    for path in page.probes if page.probes is not None else page.paths:
        started = time.perf_counter()
        status, content_type, body = http_get(base + path, timeout=60)
        slowest = max(slowest, (time.perf_counter() - started) * 1000)
        if not 200 <= status < 300:
            faults.append(f"{page.name}: {path} answered {status}")
            continue
        fault = page.kind(content_type, body)
        if fault:
            faults.append(f"{page.name}: {path}: {fault}")
    return round(slowest, 1), faults


def wrk(base: str, page: Page, duration: float, work: Path) -> dict[str, Any]:
    listing = work / f"paths-{re.sub(r'[^a-z0-9]+', '-', page.name.lower())}.txt"
    listing.write_text("\n".join(page.paths) + "\n")
    done = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c8",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            base,
            "--",
            str(listing),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("SCALE ")), "")
    values = dict(pair.split("=") for pair in line.split()[1:])
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    return {
        "p50_ms": int(values["p50_us"]) / 1000,
        "p95_ms": int(values["p95_us"]) / 1000,
        "p99_ms": int(values["p99_us"]) / 1000,
        "max_ms": int(values["max_us"]) / 1000,
        "requests": int(values["requests"]),
        "requests_per_s": float(rate.group(1)) if rate else 0.0,
        "non_2xx": int(values["non2xx"]),
        "socket_errors": int(values["errors"]),
    }


def export_stream(server: Server, path: str, seconds: float) -> dict[str, Any]:
    """Time to the first byte of a streamed export, then read it for up to ``seconds``
    while the app's memory is traced: flat means the stream holds no catalogue."""
    memory = server.memory
    memory.trace = []
    before = memory.now()
    connection = http.client.HTTPConnection(HOST, server.port, timeout=120)
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    first = response.read1(65536) if response.status == 200 else b""
    ttfb = time.perf_counter() - started
    memory.tracing = True
    total, complete = len(first), False
    while time.perf_counter() - started < seconds:
        chunk = response.read1(1 << 16)
        if not chunk:
            complete = True
            break
        total += len(chunk)
    elapsed = time.perf_counter() - started
    memory.tracing = False
    connection.close()
    trace = [value for _, value in memory.trace] or [before]
    third = max(1, len(trace) // 3)
    return {
        "status": response.status,
        "ttfb_ms": round(ttfb * 1000, 1),
        "read_mb": round(total / 1e6, 2),
        "read_s": round(elapsed, 1),
        "mb_per_s": round(total / 1e6 / elapsed, 2),
        "complete": complete,
        "rss_before_mb": round(before / 1024, 1),
        "rss_early_mb": round(max(trace[:third]) / 1024, 1),
        "rss_late_mb": round(max(trace[-third:]) / 1024, 1),
        "rss_peak_mb": round(max(trace) / 1024, 1),
    }


# -- what each kind of answer must look like -----------------------------------------------


def html(marker: str) -> Callable[[str, bytes], str | None]:
    def kind(content_type: str, body: bytes) -> str | None:
        if not content_type.startswith("text/html"):
            return f"not HTML but {content_type}"
        if marker.encode() not in body:
            return f"no {marker!r} in the page"
        return None

    return kind


def iiif(expected: str, key: str) -> Callable[[str, bytes], str | None]:
    def kind(content_type: str, body: bytes) -> str | None:
        if "json" not in content_type:
            return f"not JSON but {content_type}"
        document = json.loads(body)
        if document.get("type") != expected:
            return f"type {document.get('type')!r}, not {expected!r}"
        if key and not document.get(key):
            return f"no {key} in the {expected}"
        return None

    return kind


def xml(marker: str) -> Callable[[str, bytes], str | None]:
    def kind(content_type: str, body: bytes) -> str | None:
        if "xml" not in content_type:
            return f"not XML but {content_type}"
        if marker.encode() not in body or b"<error" in body:
            return f"no {marker!r}, or an OAI error"
        return None

    return kind
