"""The OCR accuracy benchmark still runs, on its two smoke pages, with the real Tesseract,
and still counts right: a check that it works, not the figure (that is in
benchmarks/README.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.ocr.run import aligned_right
from repository.services.ocr import installed_languages

ROOT = Path(__file__).resolve().parents[1]
LAST_RUN = ROOT / "benchmarks" / "ocr" / "last-run.json"


def last_run() -> bytes | None:
    return LAST_RUN.read_bytes() if LAST_RUN.exists() else None


def test_alignment_counts_characters_right_over_the_truth() -> None:
    assert aligned_right("學而時習", "學而時習") == ([True] * 4, 0)
    assert aligned_right("學而時習", "學時習") == ([True, False, True, True], 1)
    assert aligned_right("學而時習", "學面時習之") == ([True, False, True, True], 2)
    assert aligned_right("學而", "") == ([False, False], 2)


@pytest.mark.skipif(
    "chi_tra_vert" not in installed_languages(),
    reason="needs Tesseract's chi_tra_vert (make test installs tesseract-ocr-chi-tra-vert)",
)
def test_the_ocr_benchmark_runs_and_counts_nom_apart() -> None:
    before = last_run()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ocr.run", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    total = re.search(
        r"\| \*\*all\*\* \| (\d+)/(\d+) \| \*\*([\d.]+)%\*\* \| (\d+)/(\d+)", done.stdout
    )
    assert total is not None, done.stdout
    han_right, han, accuracy, nom_right, nom = total.groups()
    assert int(han) > 100 and int(nom) >= 20  # Nôm is counted, apart from Hán
    assert float(accuracy) >= 70.0, done.stdout  # about 92% on these pages
    assert int(nom_right) <= int(nom)
    assert last_run() == before  # a smoke run leaves the recorded figures alone
