"""The files of an item: which are its pages, in what order, and their checksums."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from natsort import natsort_keygen, ns

IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_natural = natsort_keygen(alg=ns.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PageFile:
    path: Path
    name: str  # what the curator called it: becomes the default page label


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def page_label(name: str) -> str:
    """The file name without its extension, in NFC so Vietnamese compares equal."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return unicodedata.normalize("NFC", stem)


def natural_order(pages: Iterable[PageFile]) -> tuple[PageFile, ...]:
    """Pages sorted as people number them: 2 before 10, case ignored."""
    return tuple(sorted(pages, key=lambda p: _natural(p.name)))


def _not_a_page(path: Path) -> str | None:
    """Why an entry of an item's folder is not one of its pages, or None if it is."""
    if path.is_dir():
        return "is a folder: files in folders inside an item's folder are not its pages"
    if path.name.startswith("."):
        return "is a hidden file"
    if path.name.lower() in IGNORED_NAMES:
        return "is a system file"
    return None  # a broken link too, so that it is reported as unreadable


def pages_in_folder(folder: Path) -> tuple[PageFile, ...]:
    """Every file in a folder that is a page, in natural order (see ``skipped_in_folder``)."""
    return natural_order(
        PageFile(p, unicodedata.normalize("NFC", p.name))
        for p in folder.iterdir()
        if _not_a_page(p) is None
    )


def skipped_in_folder(folder: Path) -> list[str]:
    """One line for each entry of a folder that is not a page, saying why it was skipped."""
    lines = []
    for path in folder.iterdir():
        reason = _not_a_page(path)
        if reason is not None:
            lines.append(f"{unicodedata.normalize('NFC', path.name)}: {reason}")
    return sorted(lines, key=_natural)
