"""Objects in an S3 bucket (MinIO, SeaweedFS or any S3) through the minio client.

The repository writes masters, pyramids and sidecars through S3Storage, and the image
server reads pyramids through the size-capped local read-through cache
(``readcache.py``), so a tile request reads a local file, not the network.
"""

from __future__ import annotations

import contextlib
import io
import math
import mimetypes
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NoReturn
from urllib.parse import urlparse

import certifi
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from .objects import MiB, StorageError, check_key
from .readcache import DEFAULT_CACHE_MAX_BYTES, ReadThroughCache, default_cache_dir

DEFAULT_PART_SIZE = 16 * MiB
_MAX_PARTS = 10_000
_MISSING = {"NoSuchKey", "NotFound"}
_BAD_CREDENTIALS = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


@dataclass(frozen=True)
class S3Config:
    """Where the S3 service is and who we are to it; read from TANGTHU_S3_* variables."""

    endpoint: str
    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    region: str | None = None
    create_bucket: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> S3Config:
        """Read TANGTHU_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _REGION and _CREATE_BUCKET."""
        endpoint = environ.get("TANGTHU_S3_ENDPOINT", "")
        if not endpoint:
            raise StorageError("TANGTHU_S3_ENDPOINT is not set; an s3:// storage URL needs it")
        access_key = environ.get("TANGTHU_S3_ACCESS_KEY", "")
        secret_key = environ.get("TANGTHU_S3_SECRET_KEY", "")
        if bool(access_key) != bool(secret_key):
            raise StorageError(
                "set both TANGTHU_S3_ACCESS_KEY and TANGTHU_S3_SECRET_KEY, or neither"
            )
        return cls(
            endpoint=endpoint,
            access_key=access_key,
            secret_key=secret_key,
            region=environ.get("TANGTHU_S3_REGION") or None,
            create_bucket=environ.get("TANGTHU_S3_CREATE_BUCKET", "") in {"1", "true", "yes"},
        )

    def client(self, timeout: float) -> Minio:
        """A minio client that fails fast: few retries, bounded timeouts."""
        parsed = urlparse(self.endpoint)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc or parsed.path.strip("/"):
            raise StorageError(
                f"TANGTHU_S3_ENDPOINT must look like http(s)://host:port, not {self.endpoint!r}"
            )
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=2, backoff_factor=0.1, status_forcelist=[500, 502, 503, 504]
            ),
        )
        return Minio(
            parsed.netloc,
            access_key=self.access_key or None,
            secret_key=self.secret_key or None,
            secure=parsed.scheme == "https",
            region=self.region,
            http_client=http,
        )


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception, e.g. ConnectionRefusedError under urllib3's wrappers."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


class S3Storage:
    """Objects under one prefix of one bucket; local_path reads through a local disk cache."""

    def __init__(
        self,
        config: S3Config,
        bucket: str,
        prefix: str = "",
        *,
        cache_dir: Path | None = None,
        cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES,
        revalidate_after: float = 0.0,
        part_size: int = DEFAULT_PART_SIZE,
        timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.bucket = bucket
        self.prefix = f"{check_key(prefix.strip('/'))}/" if prefix.strip("/") else ""
        self.cache = ReadThroughCache(cache_dir or default_cache_dir(), cache_max_bytes)
        self.revalidate_after = revalidate_after
        self.part_size = part_size
        self.client = config.client(timeout)
        self._open_bucket()

    def __repr__(self) -> str:
        return f"S3Storage({self.config.endpoint!r}, s3://{self.bucket}/{self.prefix})"

    def _open_bucket(self) -> None:
        try:
            with self._errors("bucket check"):
                if self.client.bucket_exists(self.bucket):
                    return
                if self.config.create_bucket:
                    self.client.make_bucket(self.bucket, self.config.region)
                    return
        except ValueError as exc:  # minio refuses a malformed bucket name before any request
            raise StorageError(f"invalid S3 bucket name {self.bucket!r}: {exc}") from None
        raise StorageError(
            f"S3 bucket {self.bucket!r} does not exist at {self.config.endpoint}; create it "
            "or set TANGTHU_S3_CREATE_BUCKET=1"
        )

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _identity(self, name: str) -> str:
        return f"{self.config.endpoint}/{self.bucket}/{name}"

    @contextlib.contextmanager
    def _errors(self, action: str, name: str = "", key: str | None = None) -> Iterator[None]:
        """Turn a missing `key` into KeyError, other failures into a one-line StorageError."""
        try:
            yield
        except S3Error as exc:
            if key is not None and exc.code in _MISSING:
                raise KeyError(key) from None
            reason = f"{exc.code}: {(exc.message or '').rstrip('.')}"
            self._fail(action, name, reason, exc.code in _BAD_CREDENTIALS)
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            cause = _root_cause(exc)
            reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
            self._fail(action, name, f"cannot reach {self.config.endpoint} ({reason})", False)

    def _fail(self, action: str, name: str, reason: str, credentials: bool) -> NoReturn:
        where = f"s3://{self.bucket}/{name}"
        hint = "; check TANGTHU_S3_ACCESS_KEY and TANGTHU_S3_SECRET_KEY" if credentials else ""
        message = f"S3 {action} failed for {where}: {reason}{hint}"
        for secret in (self.config.secret_key, self.config.access_key):
            if secret:
                message = message.replace(secret, "***")
        raise StorageError(" ".join(message.split())[:500]) from None

    def put_file(self, key: str, source: Path) -> None:
        name = self._name(key)
        size = source.stat().st_size
        part_size = max(self.part_size, math.ceil(size / _MAX_PARTS / MiB) * MiB)
        with self._errors("upload", name):
            self.client.fput_object(
                self.bucket, name, str(source), content_type=_content_type(key), part_size=part_size
            )
        self.cache.discard(self._identity(name))  # read your own writes without waiting

    def put_bytes(self, key: str, body: bytes) -> None:
        name = self._name(key)
        with self._errors("upload", name):
            self.client.put_object(
                self.bucket, name, io.BytesIO(body), len(body), content_type=_content_type(key)
            )
        self.cache.discard(self._identity(name))

    def get_bytes(self, key: str) -> bytes:
        name = self._name(key)
        with self._errors("download", name, key):
            response = self.client.get_object(self.bucket, name)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def exists(self, key: str) -> bool:
        name = self._name(key)
        try:
            with self._errors("stat", name, key):
                self.client.stat_object(self.bucket, name)
        except KeyError:
            return False
        return True

    def delete(self, key: str) -> None:
        name = self._name(key)
        with self._errors("delete", name):
            self.client.remove_object(self.bucket, name)
        self.cache.discard(self._identity(name))

    def keys(self, prefix: str = "") -> Iterator[str]:
        with self._errors("list", self.prefix + prefix):
            for item in self.client.list_objects(
                self.bucket, prefix=self.prefix + prefix, recursive=True
            ):
                name = str(item.object_name)
                if not name.endswith("/"):
                    yield name[len(self.prefix) :]

    def local_path(self, key: str) -> Path:
        """A local file with the object's bytes, fetched unless a valid copy is cached."""
        name = self._name(key)
        identity = self._identity(name)
        cached = self.cache.lookup(identity)
        if cached and time.time() - cached.validated_at < self.revalidate_after:
            if path := self.cache.touch(cached):
                return path
        try:
            with self._errors("stat", name, key):
                current = self.client.stat_object(self.bucket, name)
        except KeyError:
            self.cache.discard(identity)
            raise
        if cached and (cached.etag, cached.size) == (current.etag, current.size):
            if path := self.cache.touch(cached, revalidated=True):
                return path
        with self._errors("download", name, key):
            return self.cache.store(identity, lambda out: self._download(name, out))

    def _download(self, name: str, out: BinaryIO) -> str:
        """Stream an object into `out`; return the ETag of the bytes actually received."""
        response = self.client.get_object(self.bucket, name)
        try:
            for chunk in response.stream(MiB):
                out.write(chunk)
            return str(response.headers.get("ETag", "")).strip('"')
        finally:
            response.close()
            response.release_conn()


def _content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def open_s3_storage(
    url: str, environ: Mapping[str, str], revalidate_after: float | None = None
) -> S3Storage:
    """S3Storage for s3://bucket/prefix, configured from TANGTHU_S3_* variables."""
    parsed = urlparse(url)
    if not parsed.netloc:
        raise StorageError(f"S3 storage URL needs a bucket: s3://bucket/prefix, not {url!r}")
    cache_dir = environ.get("TANGTHU_S3_CACHE_DIR")
    try:
        cache_max_bytes = int(environ.get("TANGTHU_S3_CACHE_MAX_BYTES", DEFAULT_CACHE_MAX_BYTES))
        if revalidate_after is None:
            revalidate_after = float(environ.get("TANGTHU_S3_CACHE_REVALIDATE_SECONDS", 0))
    except ValueError as exc:
        raise StorageError(f"bad S3 cache setting: {exc}") from None
    return S3Storage(
        S3Config.from_environ(environ),
        parsed.netloc,
        parsed.path,
        cache_dir=Path(cache_dir) if cache_dir else None,
        cache_max_bytes=cache_max_bytes,
        revalidate_after=revalidate_after,
    )
