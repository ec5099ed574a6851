"""The queue benchmark still runs, on a few small pages, with real worker processes: a
check that it runs and measures, not a timing (the figures are in benchmarks/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT


def test_the_queue_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "queue.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.queue.run", "--smoke", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "1 worker" in done.stdout and "2 workers" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["pages"] == 4 and figures["one_worker_s"] > 0 and figures["two_workers_s"] > 0
