"""The usage benchmark still runs: both servers answer, and the recording one stores use.
A check that it works, not a timing (the figures are in benchmarks/README.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_usage_benchmark_runs() -> None:
    if not Path("/usr/bin/wrk").exists():
        pytest.fail("make test installs wrk for this check")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.usage.run", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "recording off:" in output and "recording on:" in output
    stored = re.search(r"investigations stored: ([\d,]+)", output)
    assert stored and int(stored.group(1).replace(",", "")) > 0, output[-2000:]
