"""The scale harness still runs from a fresh clone, on a small catalogue (2,000 items,
20,000 pages, SQLite), with the repository served as deployed: every page it measures
answers a 2xx of its kind. A check that it runs and gets right answers, not a timing (the
figures at full size are in benchmarks/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_scale_benchmark_runs_and_every_page_answers() -> None:
    if not Path("/usr/bin/wrk").exists():
        pytest.fail("make test installs wrk for this check")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale.run", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    written = output.split("written ")[-1].split()[0]
    report = json.loads(Path(written).read_text())
    Path(written).unlink()  # a smoke run is not a figure to keep
    (run,) = report["runs"]
    assert report["smoke"] and run["database"] == "sqlite" and run["faults"] == []
    assert run["items"] == 2000 and run["pages"] == 20_000
    for name in (
        "home",
        "collection, deep page",
        "search, Hán-Nôm",
        "search, each query new (nothing kept)",
        "manifest",
        "IIIF collection, deep page",
        "OAI ListRecords, resumption",
        "sitemap page",
        "Discovery page",
    ):
        figures = run["measured"][name]
        assert figures["requests"] > 0 and figures["non_2xx"] == 0, (name, figures)
    assert run["exports"]["/opendata/items.csv"]["status"] == 200
