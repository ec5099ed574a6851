"""Where objects live, as both processes see it: storage keys, and readers that give a
local file for a key (a folder, or S3 through the read-through cache).

Both apps import this contract; the S3 client (``s3.py``) is loaded only for s3:// URLs,
so a server on local storage does not carry it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

MiB = 1024 * 1024
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")


class StorageError(Exception):
    """A refused key, a bad storage URL or setting, or a storage service that failed."""


def check_key(key: str) -> str:
    """Keys are made by us from opaque ids; refuse anything that could walk a path."""
    if len(key) > 512 or not _KEY.match(key) or ".." in key:
        raise StorageError(f"invalid storage key {key!r}")
    return key


class Reader(Protocol):
    def local_path(self, key: str) -> Path: ...


class LocalReader:
    """Objects that already are local files, under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def local_path(self, key: str) -> Path:
        path = self.root / check_key(key)
        if not path.is_file():
            raise KeyError(key)
        return path


def open_reader(url: str, environ: Mapping[str, str], revalidate_after: float) -> Reader:
    """Read access to file:// or s3:// storage; S3 objects come through the local cache."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalReader(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        from .s3 import open_s3_storage

        return open_s3_storage(url, environ, revalidate_after)
    raise StorageError(f"unsupported storage URL scheme {parsed.scheme!r}; use file:// or s3://")
