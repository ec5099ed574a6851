"""Result files and tables: machine facts, markdown tables, JSON and markdown output."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from .image import ROOT

RESULTS = ROOT / "benchmarks" / "results"


def timestamp() -> str:
    """Local time as ``YYYYmmdd-HHMMSS`` for file names."""
    return time.strftime("%Y%m%d-%H%M%S")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on this shared machine shows here."""
    return [float(value) for value in Path("/proc/loadavg").read_text().split()[:3]]


def machine() -> dict[str, object]:
    """CPU, memory and kernel of this machine."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": load_average(),
    }


def git_state() -> dict[str, object]:
    """The commit of the code measured, and whether the image server had local changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "image_server_dirty": bool(git("status", "--porcelain", "--", "image_server", "wsgi.py")),
    }


def tool_versions() -> dict[str, str]:
    """Versions of the servers and load generator as installed."""

    def first_line(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except OSError as exc:
            return f"unavailable: {exc}"
        return (
            (done.stdout or done.stderr).strip().splitlines()[0]
            if done.stdout or done.stderr
            else ""
        )

    return {
        "iipimage": first_line(["dpkg-query", "-W", "-f", "${Version}", "iipimage-server"]),
        "lighttpd": first_line(["/usr/sbin/lighttpd", "-v"]),
        "wrk": first_line(["/usr/bin/wrk", "-v"]),
    }


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table, numbers right-aligned."""

    def numeric(value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    def cell(value: object) -> str:
        if isinstance(value, float):
            digits = 2 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
            return f"{value:,.{digits}f}"
        return f"{value:,}" if numeric(value) else str(value)

    first = rows[0] if rows else [0] * len(header)
    align = ["---:" if numeric(value) or str(value).endswith("×") else "---" for value in first]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines.extend("| " + " | ".join(cell(value) for value in row) + " |" for row in rows)
    return "\n".join(lines)


def write_results(stem: str, data: dict[str, object], markdown: str) -> tuple[Path, Path]:
    """Write ``results/<stem>.json`` and ``results/<stem>.md``; return both paths."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"{stem}.json"
    md_path = RESULTS / f"{stem}.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(markdown + "\n")
    return json_path, md_path
