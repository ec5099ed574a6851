"""One behavioural suite for every Storage, over a real folder and a real S3 server via HTTP.

S3 tests run against a real SeaweedFS started by the suite (tests/s3server.py), or against
a real MinIO when TANGTHU_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY and _BUCKET are set.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from image_server.objects import MiB
from image_server.s3 import S3Config, S3Storage
from repository.storage import LocalStorage, Storage, StorageError, open_storage
from tests import s3server
from tests.s3server import admin_client, real_s3_service  # noqa: F401  (the suite's S3)
from tests.servers import free_port

BAD_KEYS = ["", "../x", "a/../b", "/etc/passwd", "a//b", "./x", "x/", ".hidden", "a\\b"]

MakeS3 = Callable[..., S3Storage]


def remove_prefix(client: Minio, bucket: str, prefix: str) -> None:
    for item in client.list_objects(bucket, prefix=prefix, recursive=True):
        client.remove_object(bucket, str(item.object_name))


@pytest.fixture
def s3_prefix(s3_service: s3server.S3Service) -> Iterator[str]:
    """A fresh prefix per test, so tests share one bucket (even a real one) without clashing."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    remove_prefix(admin_client(s3_service), s3_service.bucket, prefix + "/")


@pytest.fixture
def make_s3(s3_service: s3server.S3Service, s3_prefix: str, tmp_path: Path) -> MakeS3:
    def make(prefix: str = s3_prefix, cache: str = "cache", **options: Any) -> S3Storage:
        config = S3Config(s3_service.endpoint, s3_service.access_key, s3_service.secret_key)
        options.setdefault("part_size", 5 * MiB)
        return S3Storage(config, s3_service.bucket, prefix, cache_dir=tmp_path / cache, **options)

    return make


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "objects")
    make: MakeS3 = request.getfixturevalue("make_s3")
    return make()


# The same behaviour from every backend.


def test_bytes_round_trip(storage: Storage) -> None:
    storage.put_bytes("manifests/item-1.json", b'{"id": 1}')
    assert storage.get_bytes("manifests/item-1.json") == b'{"id": 1}'
    storage.put_bytes("manifests/item-1.json", b"")
    assert storage.get_bytes("manifests/item-1.json") == b""


def test_file_round_trip_of_several_megabytes(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "master.tif"
    body = os.urandom(7 * MiB + 123)
    source.write_bytes(body)
    storage.put_file("masters/img-1.tif", source)
    assert storage.get_bytes("masters/img-1.tif") == body
    assert storage.local_path("masters/img-1.tif").read_bytes() == body


def test_put_file_from_a_missing_source_stores_nothing(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        storage.put_file("masters/img-1.tif", tmp_path / "absent.tif")
    assert not storage.exists("masters/img-1.tif")


def test_keys_are_sorted_strings_and_filter_by_prefix(storage: Storage) -> None:
    for key in ["pyramids/b.tif", "masters/b.tif", "masters/a.tif", "a/b", "a-c", "policies/x"]:
        storage.put_bytes(key, key.encode())
    keys = list(storage.keys())
    if not isinstance(storage, LocalStorage):
        # SeaweedFS lists a "folder" before a sibling key that sorts before it ('a/b'
        # before 'a-c'), unlike S3's binary order: nothing may rely on the order across
        # folders, so only the keys themselves are compared here.
        keys = sorted(keys)
    assert keys == [
        "a-c",
        "a/b",
        "masters/a.tif",
        "masters/b.tif",
        "policies/x",
        "pyramids/b.tif",
    ]
    assert list(storage.keys("masters/")) == ["masters/a.tif", "masters/b.tif"]
    assert list(storage.keys("nothing/")) == []


def test_exists_and_idempotent_delete(storage: Storage) -> None:
    assert not storage.exists("policies/img-1.json")
    storage.put_bytes("policies/img-1.json", b"{}")
    assert storage.exists("policies/img-1.json")
    storage.delete("policies/img-1.json")
    assert not storage.exists("policies/img-1.json")
    storage.delete("policies/img-1.json")
    storage.delete("never/stored")
    assert list(storage.keys()) == []


def test_missing_key_is_a_key_error(storage: Storage) -> None:
    storage.put_bytes("masters/other.tif", b"x")
    with pytest.raises(KeyError):
        storage.get_bytes("masters/missing.tif")
    with pytest.raises(KeyError):
        storage.local_path("masters/missing.tif")
    with pytest.raises(KeyError):
        storage.get_bytes("masters")  # a folder-like prefix is not an object


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_refused(storage: Storage, key: str, tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    attempts: list[Callable[[], object]] = [
        lambda: storage.put_bytes(key, b"x"),
        lambda: storage.put_file(key, source),
        lambda: storage.get_bytes(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
        lambda: storage.local_path(key),
    ]
    for attempt in attempts:
        with pytest.raises(StorageError, match="invalid storage key"):
            attempt()
    assert list(storage.keys()) == []


def test_local_path_holds_the_objects_bytes(storage: Storage) -> None:
    storage.put_bytes("pyramids/img-1.tif", b"II*\x00pyramid")
    path = storage.local_path("pyramids/img-1.tif")
    assert path.is_file()
    assert path.read_bytes() == b"II*\x00pyramid"


# S3: the bucket layout, the read-through cache and failures.


def test_large_upload_goes_in_parts(
    make_s3: MakeS3, s3_service: s3server.S3Service, s3_prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.tif"
    source.write_bytes(os.urandom(11 * MiB))
    make_s3(part_size=5 * MiB).put_file("masters/big.tif", source)
    stat = admin_client(s3_service).stat_object(s3_service.bucket, f"{s3_prefix}/masters/big.tif")
    assert stat.size == 11 * MiB
    assert str(stat.etag).endswith("-3")  # a multipart ETag: three 5 MiB parts, streamed
    assert stat.content_type == "image/tiff"


def test_objects_live_under_the_prefix_and_prefixes_do_not_leak(
    make_s3: MakeS3, s3_service: s3server.S3Service, s3_prefix: str
) -> None:
    short, longer = make_s3(f"{s3_prefix}/a"), make_s3(f"{s3_prefix}/ab")
    short.put_bytes("x.json", b"1")
    longer.put_bytes("y.json", b"2")
    assert list(short.keys()) == ["x.json"]
    assert list(longer.keys()) == ["y.json"]
    names = admin_client(s3_service).list_objects(s3_service.bucket, s3_prefix, recursive=True)
    assert sorted(str(o.object_name) for o in names) == [
        f"{s3_prefix}/a/x.json",
        f"{s3_prefix}/ab/y.json",
    ]


def test_open_storage_reads_the_environment(
    s3_service: s3server.S3Service, s3_prefix: str, tmp_path: Path
) -> None:
    environ = s3_service.environ(
        TANGTHU_S3_CACHE_DIR=str(tmp_path / "env-cache"), TANGTHU_S3_CACHE_MAX_BYTES="1000000"
    )
    storage = open_storage(f"s3://{s3_service.bucket}/{s3_prefix}/env", environ)
    assert isinstance(storage, S3Storage)
    storage.put_bytes("k.json", b"{}")
    assert storage.local_path("k.json").is_relative_to(tmp_path / "env-cache")
    assert storage.cache.max_bytes == 1_000_000
    assert s3_service.secret_key not in repr(storage) + repr(storage.config)


def test_cache_evicts_the_least_recently_used(make_s3: MakeS3) -> None:
    storage = make_s3(cache_max_bytes=250_000)
    keys = {"a": "pyramids/a.tif", "b": "manifests/b.json", "c": "policies/c.json"}
    for name, key in keys.items():
        storage.put_bytes(key, name.encode() * 100_000)
    a = storage.local_path(keys["a"])
    b = storage.local_path(keys["b"])
    assert storage.local_path(keys["a"]) == a  # a is now more recent than b
    c = storage.local_path(keys["c"])
    assert a.read_bytes() == b"a" * 100_000
    assert c.read_bytes() == b"c" * 100_000
    assert not b.exists()
    assert storage.cache.size() == 200_000
    assert storage.local_path(keys["b"]).read_bytes() == b"b" * 100_000
    assert not a.exists()


def test_an_object_bigger_than_the_cap_is_still_served(make_s3: MakeS3) -> None:
    storage = make_s3(cache_max_bytes=10)
    storage.put_bytes("pyramids/a.tif", b"a" * 1000)
    assert storage.local_path("pyramids/a.tif").read_bytes() == b"a" * 1000


def test_cache_revalidates_and_refetches_a_changed_object(make_s3: MakeS3) -> None:
    writer, reader = make_s3(cache="writer"), make_s3(cache="reader")
    writer.put_bytes("policies/img-1.json", b'{"level": "open"}')
    first = reader.local_path("policies/img-1.json")
    inode = first.stat().st_ino
    assert reader.local_path("policies/img-1.json").stat().st_ino == inode  # unchanged: no fetch
    writer.put_bytes("policies/img-1.json", b'{"level": "staff"}')
    second = reader.local_path("policies/img-1.json")
    assert second.read_bytes() == b'{"level": "staff"}'
    assert second != first and not first.exists()
    writer.put_bytes("policies/img-1.json", b'{"level": "stuff"}')  # same size, new ETag
    assert reader.local_path("policies/img-1.json").read_bytes() == b'{"level": "stuff"}'


def test_revalidation_can_be_deferred(make_s3: MakeS3) -> None:
    writer, reader = make_s3(cache="writer"), make_s3(cache="reader", revalidate_after=60)
    writer.put_bytes("pyramids/img-1.tif", b"version 1")
    assert reader.local_path("pyramids/img-1.tif").read_bytes() == b"version 1"
    writer.put_bytes("pyramids/img-1.tif", b"version 2")
    assert reader.local_path("pyramids/img-1.tif").read_bytes() == b"version 1"
    assert make_s3(cache="reader").local_path("pyramids/img-1.tif").read_bytes() == b"version 2"
    reader.put_bytes("pyramids/img-1.tif", b"version 3")  # its own writes it sees at once
    assert reader.local_path("pyramids/img-1.tif").read_bytes() == b"version 3"


def test_an_object_deleted_elsewhere_leaves_the_cache(make_s3: MakeS3, tmp_path: Path) -> None:
    writer, reader = make_s3(cache="writer"), make_s3(cache="reader")
    writer.put_bytes("masters/img-1.tif", b"master")
    path = reader.local_path("masters/img-1.tif")
    writer.delete("masters/img-1.tif")
    with pytest.raises(KeyError):
        reader.local_path("masters/img-1.tif")
    assert not path.exists()
    assert [p for p in (tmp_path / "reader").rglob("*") if p.is_file()] == []


def assert_clean_error(error: StorageError, *secrets: str) -> None:
    """One line, no traceback, no credentials."""
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message
    for secret in secrets:
        assert secret not in message
    assert error.__cause__ is None


def test_unreachable_endpoint_is_a_clear_error(s3_service: s3server.S3Service) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    environ = s3_service.environ(TANGTHU_S3_ENDPOINT=dead)
    started = time.monotonic()
    with pytest.raises(StorageError, match="cannot reach") as caught:
        open_storage(f"s3://{s3_service.bucket}/x", environ)
    assert time.monotonic() - started < 5
    assert dead in str(caught.value)
    assert_clean_error(caught.value, s3_service.secret_key, s3_service.access_key)


@pytest.mark.parametrize("which", ["secret", "access"])
def test_wrong_credentials_are_a_clear_error(s3_service: s3server.S3Service, which: str) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    variable = "TANGTHU_S3_SECRET_KEY" if which == "secret" else "TANGTHU_S3_ACCESS_KEY"
    with pytest.raises(StorageError, match="check TANGTHU_S3_ACCESS_KEY") as caught:
        open_storage(f"s3://{s3_service.bucket}/x", s3_service.environ(**{variable: wrong}))
    assert_clean_error(caught.value, wrong, s3_service.secret_key)


def test_missing_bucket_is_refused_unless_creation_is_asked_for(
    s3_service: s3server.S3Service, tmp_path: Path
) -> None:
    bucket = f"tangthu-new-{uuid.uuid4().hex[:12]}"
    environ = s3_service.environ(TANGTHU_S3_CACHE_DIR=str(tmp_path))
    with pytest.raises(StorageError, match="does not exist.*TANGTHU_S3_CREATE_BUCKET=1"):
        open_storage(f"s3://{bucket}/p", environ)
    storage = open_storage(f"s3://{bucket}/p", {**environ, "TANGTHU_S3_CREATE_BUCKET": "1"})
    client = admin_client(s3_service)
    try:
        storage.put_bytes("k", b"v")
        assert storage.get_bytes("k") == b"v"
    finally:
        remove_prefix(client, bucket, "")
        client.remove_bucket(bucket)
    with pytest.raises(StorageError, match="NoSuchBucket") as caught:
        storage.get_bytes("k")  # not a KeyError: the bucket, not the object, is gone
    assert_clean_error(caught.value, s3_service.secret_key)


@pytest.mark.parametrize(
    ("url", "environ", "message"),
    [
        ("gs://bucket/p", {}, "unsupported storage URL scheme"),
        ("s3:///p", {"TANGTHU_S3_ENDPOINT": "http://127.0.0.1:1"}, "needs a bucket"),
        ("s3://bucket/p", {}, "TANGTHU_S3_ENDPOINT is not set"),
        ("s3://bucket/p", {"TANGTHU_S3_ENDPOINT": "ftp://host"}, "must look like"),
        ("s3://bucket/p", {"TANGTHU_S3_ENDPOINT": "127.0.0.1:9000"}, "must look like"),
        (
            "s3://bucket/p",
            {"TANGTHU_S3_ENDPOINT": "http://h:1", "TANGTHU_S3_ACCESS_KEY": "k"},
            "set both",
        ),
        (
            "s3://bucket/p",
            {"TANGTHU_S3_ENDPOINT": "http://h:1", "TANGTHU_S3_CACHE_MAX_BYTES": "lots"},
            "bad S3 cache setting",
        ),
        ("s3://bucket/../p", {"TANGTHU_S3_ENDPOINT": "http://h:1"}, "invalid storage key"),
        ("s3://b/p", {"TANGTHU_S3_ENDPOINT": "http://127.0.0.1:1"}, "invalid S3 bucket name"),
    ],
)
def test_bad_storage_settings_are_refused_before_any_request(
    url: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(StorageError, match=message):
        open_storage(url, environ)
