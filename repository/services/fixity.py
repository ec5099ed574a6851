"""Fixity: re-hash every stored master and derivative against the recorded SHA-256.

On S3 each object is hashed as it streams in, never through the image servers' tile
cache: a fixity run over a whole archive must not flush what readers need, nor need
the disk space of the largest master."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from image_server.objects import check_key
from image_server.s3 import S3Storage

from ..extensions import db
from ..models import Image
from ..storage import Storage
from .page_files import sha256_file

CHUNK = 1 << 20


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
            actual = object_sha256(storage, key)
        except (KeyError, FileNotFoundError):
            problems.append(FixityProblem(key, "missing"))
        else:
            if actual != expected:
                problems.append(FixityProblem(key, "checksum mismatch"))
        if progress:
            progress(key)
    return problems


def object_sha256(storage: Storage, key: str) -> str:
    """The SHA-256 of a stored object: streamed from S3, read from a local file."""
    if not isinstance(storage, S3Storage):
        return sha256_file(storage.local_path(key))
    digest = hashlib.sha256()
    stream_object(storage, key, digest.update)
    return digest.hexdigest()


def stream_object(storage: S3Storage, key: str, write: Callable[[bytes], object]) -> None:
    """Hand an S3 object's bytes to ``write`` chunk by chunk (KeyError if it is missing)."""
    name = storage.prefix + check_key(key)
    with storage._errors("download", name, key):  # one family of storage errors
        response = storage.client.get_object(storage.bucket, name)
        try:
            for chunk in response.stream(CHUNK):
                write(chunk)
        finally:
            response.close()
            response.release_conn()


def copy_object(storage: Storage, key: str, target: Path) -> None:
    """Copy a stored object into a file: streamed from S3, copied from a local file."""
    if not isinstance(storage, S3Storage):
        shutil.copyfile(storage.local_path(key), target)
        return
    with open(target, "wb") as out:
        _stream_into(storage, key, out)


def _stream_into(storage: S3Storage, key: str, out: BinaryIO) -> None:
    stream_object(storage, key, out.write)
