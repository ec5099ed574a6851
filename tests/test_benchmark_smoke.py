"""Every benchmark harness still runs from a fresh clone, on small inputs, with our servers
started exactly as deployed: a check that each runs and gets right answers, not a timing
(the figures are in benchmarks/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IIPSRV = Path("/usr/lib/iipimage-server/iipsrv.fcgi")


def run(module: str, *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return output


def test_the_tile_benchmark_runs_beside_iipimage() -> None:
    if not IIPSRV.exists() or not Path("/usr/bin/wrk").exists():
        pytest.fail("make test installs wrk, lighttpd and iipimage-server for this check")
    output = run(
        "benchmarks.tiles.run",
        *("--rounds", "1", "--duration", "2", "--warmup", "1", "--tiles", "300"),
        *("--width", "4200", "--height", "3000", "--keep-page-cache", "--retry-pause", "1"),
    )
    assert "Peer: IIPImage" in output and "| cold | ours (granian)" in output
    assert "| warm | IIPImage" in output


def test_the_contention_benchmark_runs() -> None:
    output = run("benchmarks.tiles.contention", "--smoke", "--duration", "2")
    assert "tiles + 4 expensive" in output


def test_the_manifest_benchmark_runs() -> None:
    output = run("benchmarks.manifests.run", "--smoke")
    assert "build: 200 canvases" in output and "serve: ours / static" in output


def test_the_ingest_benchmark_runs() -> None:
    output = run("benchmarks.ingest.run", "--smoke", "--repeat", "1")
    assert "ours" in output and "vips" in output


def test_the_search_benchmark_runs(tmp_path: Path) -> None:
    output = run("benchmarks.search.run", "--smoke", "--output", str(tmp_path / "last.json"))
    assert "target p95" in output
