"""Fixity: re-hash every stored master and derivative against the recorded SHA-256."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..extensions import db
from ..models import Image
from ..storage import Storage
from .page_files import sha256_file


@dataclass(frozen=True, slots=True)
class FixityProblem:
    key: str
    problem: str  # "missing" or "checksum mismatch"


def stored_checksums() -> Iterator[tuple[str, str]]:
    """(storage key, expected SHA-256) for every master and derivative, each once."""
    seen: set[str] = set()
    for image in db.session.execute(db.select(Image).order_by(Image.item_id)).scalars():
        for key, expected in (
            (image.master_key, image.sha256),
            (image.pyramid_key, image.derivative_sha256),
        ):
            if key not in seen:
                seen.add(key)
                yield key, expected


def check_fixity(
    storage: Storage, progress: Callable[[str], None] | None = None
) -> list[FixityProblem]:
    problems = []
    for key, expected in list(stored_checksums()):
        try:
            actual = sha256_file(storage.local_path(key))
        except (KeyError, FileNotFoundError):
            problems.append(FixityProblem(key, "missing"))
        else:
            if actual != expected:
                problems.append(FixityProblem(key, "checksum mismatch"))
        if progress:
            progress(key)
    return problems
