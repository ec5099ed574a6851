"""Object storage behind one protocol: a local folder by default, S3/MinIO to scale out."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import unquote, urlparse

from image_server.objects import StorageError, check_key

__all__ = ["LocalStorage", "Storage", "StorageError", "check_key", "open_storage"]


class Storage(Protocol):
    """Whole objects by key; a missing key is a KeyError, any other failure a StorageError."""

    def put_file(self, key: str, source: Path) -> None:
        """Store a file's bytes under key, streaming, replacing any object there."""

    def put_bytes(self, key: str, body: bytes) -> None:
        """Store bytes under key, replacing any object there."""

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; KeyError if there is none."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under key."""

    def delete(self, key: str) -> None:
        """Remove the object under key; removing a missing object is not an error."""

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key that starts with prefix, in sorted order."""

    def local_path(self, key: str) -> Path:
        """A local file holding the object's bytes, to open at once; KeyError if none."""


class LocalStorage:
    """Objects as files under one root; every write lands whole or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        return path

    def _write_atomically(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, source: Path) -> None:
        def copy(out: BinaryIO) -> None:
            with open(source, "rb") as src:
                # sendfile copies in the kernel: large masters never pass through Python.
                size = os.fstat(src.fileno()).st_size
                sent = 0
                while sent < size:
                    count = os.sendfile(out.fileno(), src.fileno(), sent, size - sent)
                    if count == 0:
                        raise OSError(f"{source} shrank while it was being stored")
                    sent += count

        self._write_atomically(key, copy)

    def put_bytes(self, key: str, body: bytes) -> None:
        self._write_atomically(key, lambda out: out.write(body))

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise KeyError(key) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_file():
            path.unlink(missing_ok=True)

    def keys(self, prefix: str = "") -> Iterator[str]:
        # Sort the key strings, not the paths, so the order is the one S3 lists in.
        found = (
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.name.startswith(".tmp-")
        )
        yield from sorted(key for key in found if key.startswith(prefix))


def open_storage(url: str, environ: Mapping[str, str] = os.environ) -> Storage:
    """The storage a URL names: file:///path, or s3://bucket/prefix with TANGTHU_S3_* settings."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        from image_server.s3 import open_s3_storage

        return open_s3_storage(url, environ)
    raise StorageError(f"unsupported storage URL scheme {parsed.scheme!r}; use file:// or s3://")
