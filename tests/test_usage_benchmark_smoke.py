"""The usage benchmarks still run: both servers answer, and the recording one records.
A check that they work, not a timing (the figures are in benchmarks/README.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_benchmark_smoke import run


@pytest.fixture(autouse=True)
def _wrk() -> None:
    if not Path("/usr/bin/wrk").exists():
        pytest.fail("make test installs wrk for this check")


def _count(pattern: str, output: str) -> int:
    found = re.search(pattern, output)
    assert found, output[-2000:]
    return int(found.group(1).replace(",", ""))


def test_the_usage_benchmark_runs() -> None:
    output = run("benchmarks.usage.run", "--smoke")
    assert "recording off:" in output and "recording on:" in output
    assert _count(r"investigations stored: ([\d,]+)", output) > 0


def test_the_image_server_usage_benchmark_runs() -> None:
    """Tiles beside full-size requests, with recording on and off; the 'on' server's
    COUNTER requests reach the receiver, every batch signed with the shared key."""
    output = run("benchmarks.usage.tiles", "--smoke")
    assert _count(r"COUNTER requests received from the 'on' server: ([\d,]+)", output) > 0
    assert "(refused batches: 0)" in output
