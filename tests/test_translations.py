"""Every user-facing string has a Vietnamese translation, and the catalogue is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "repository" / "translations"


def extracted_ids(tmp_path: Path) -> set[str]:
    template = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--ignore-dirs=.* node_modules instance",
            "-o",
            str(template),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with open(template, "rb") as stream:
        return {m.id for m in read_po(stream) if m.id}


def test_vietnamese_catalogue_covers_every_string(tmp_path: Path) -> None:
    with open(TRANSLATIONS / "vi" / "LC_MESSAGES" / "messages.po", "rb") as stream:
        catalogue = read_po(stream)
    translated = {m.id for m in catalogue if m.id and m.string and not m.fuzzy}
    in_code = extracted_ids(tmp_path)
    assert {"Sign in", "Collections", "Page images or PDF"} <= in_code  # extraction really ran
    missing = in_code - translated
    assert not missing, f"untranslated (run `make translations` and fill them in): {missing}"
