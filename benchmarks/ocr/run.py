"""OCR accuracy on vertical Hán: characters read right over characters in the truth.

    .venv/bin/python -m benchmarks.ocr.run            # every page; writes last-run.json
    .venv/bin/python -m benchmarks.ocr.run --smoke    # one Hán page and the Nôm page

Each page of ``pages.py`` (real classical text, 8 columns of 16 characters read right to
left, drawn with BabelStone Han) goes through our OCR service exactly as an item's page
does (``repository.services.ocr.recognise`` with ``chi_tra_vert``, which asks Tesseract
for ``--psm 5``). The text it returns, in reading order, is aligned with the truth by edit
distance; a truth character is right when the alignment pairs it with the same character.
Nôm characters (CJK Extension B and beyond, which the Chinese models cannot know) are
counted apart: the Hán figure is over Hán characters only, the Nôm figure over Nôm only.
The character error rate (substitutions + deletions + insertions over the truth) is
reported too, so that characters read where there are none do not go unseen.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.ocr.pages import TEXTS, draw_vertical_page, font, is_nom
from repository.services.ocr import OcrSettings, recognise

ROOT = Path(__file__).resolve().parents[2]
LAST_RUN = Path(__file__).with_name("last-run.json")
LANGUAGES = "chi_tra_vert"
SMOKE_PAGES = ("analects-1", "nom")


@dataclass(frozen=True, slots=True)
class Score:
    page: str
    han: int  # Hán characters in the truth
    han_right: int
    nom: int  # Nôm characters in the truth
    nom_right: int
    edits: int  # substitutions + deletions + insertions
    seconds: float
    read: str


def aligned_right(truth: str, read: str) -> tuple[list[bool], int]:
    """For each truth character, whether the edit-distance alignment pairs it with the
    same character; and the distance itself."""
    rows, cols = len(truth), len(read)
    cost = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows + 1):
        cost[i][0] = i
    for j in range(cols + 1):
        cost[0][j] = j
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            same = truth[i - 1] == read[j - 1]
            cost[i][j] = min(
                cost[i - 1][j - 1] + (0 if same else 1), cost[i - 1][j] + 1, cost[i][j - 1] + 1
            )
    right = [False] * rows
    i, j = rows, cols
    while i > 0 and j > 0:
        same = truth[i - 1] == read[j - 1]
        if cost[i][j] == cost[i - 1][j - 1] + (0 if same else 1):
            right[i - 1] = same
            i, j = i - 1, j - 1
        elif cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    return right, cost[rows][cols]


def score_page(name: str, text: str, folder: Path) -> Score:
    page = draw_vertical_page(text)
    path = folder / f"{name}.png"
    page.image.pngsave(str(path))
    start = time.perf_counter()
    result = recognise(path, page.image.width, page.image.height, LANGUAGES, OcrSettings())
    seconds = time.perf_counter() - start
    read = "".join(result.text.split())
    right, edits = aligned_right(page.text, read)
    nom = [is_nom(c) for c in page.text]
    return Score(
        name,
        han=nom.count(False),
        han_right=sum(r for r, n in zip(right, nom, strict=True) if not n),
        nom=nom.count(True),
        nom_right=sum(r for r, n in zip(right, nom, strict=True) if n),
        edits=edits,
        seconds=round(seconds, 2),
        read=read,
    )


def percent(right: int, total: int) -> str:
    return f"{100 * right / total:.1f}%" if total else "–"


def table(scores: list[Score]) -> str:
    lines = [
        "| page | Hán right | Hán accuracy | Nôm right | Nôm accuracy | CER | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        cer = percent(s.edits, s.han + s.nom)
        lines.append(
            f"| {s.page} | {s.han_right}/{s.han} | {percent(s.han_right, s.han)} "
            f"| {s.nom_right}/{s.nom} | {percent(s.nom_right, s.nom)} | {cer} | {s.seconds} |"
        )
    han, han_right = sum(s.han for s in scores), sum(s.han_right for s in scores)
    nom, nom_right = sum(s.nom for s in scores), sum(s.nom_right for s in scores)
    edits = sum(s.edits for s in scores)
    lines.append(
        f"| **all** | {han_right}/{han} | **{percent(han_right, han)}** | {nom_right}/{nom} "
        f"| **{percent(nom_right, nom)}** | {percent(edits, han + nom)} "
        f"| {round(sum(s.seconds for s in scores), 1)} |"
    )
    return "\n".join(lines)


def tesseract_version() -> str:
    done = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=True)
    return (done.stdout or done.stderr).splitlines()[0]


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="two pages; writes nothing")
    options = parser.parse_args()
    names = SMOKE_PAGES if options.smoke else tuple(TEXTS)
    with tempfile.TemporaryDirectory(prefix="tangthu-ocr-bench-") as folder:
        scores = [score_page(name, TEXTS[name], Path(folder)) for name in names]
    print(f"{tesseract_version()}, {LANGUAGES}, font {font()[1]}, {len(scores)} pages")
    print(table(scores))
    if not options.smoke:
        record = {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "tesseract": tesseract_version(),
            "languages": LANGUAGES,
            "font": font()[1],
            "commit": commit(),
            "python": platform.python_version(),
            "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
            "pages": [asdict(s) for s in scores],
        }
        LAST_RUN.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
