"""An S3 service for tests: moto's server on a free loopback port, or a real MinIO from env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from minio import Minio

from tests.servers import free_port, stop_process

ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


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


class MotoServer:
    """moto's S3 server in a subprocess that checks SigV4 signatures against a real IAM key."""

    def __init__(self, log_dir: Path, bucket: str = "tangthu-test") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / "moto.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait()
            access_key, secret_key = self._enforce_credentials()
        except BaseException:
            self.stop()
            raise
        self.service = S3Service(self.url, access_key, secret_key, bucket)

    def _wait(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto exited early; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"moto did not answer in {timeout}s; see {self.log.name}")

    def _enforce_credentials(self) -> tuple[str, str]:
        """Make an IAM user with a key, then switch moto to refusing every other key."""
        import boto3  # moto[server] brings it; only this helper talks IAM

        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="tangthu")
        iam.put_user_policy(
            UserName="tangthu", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL)
        )
        key = iam.create_access_key(UserName="tangthu")["AccessKey"]
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=5):
            pass
        return str(key["AccessKeyId"]), str(key["SecretAccessKey"])

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


def admin_client(service: S3Service) -> Minio:
    """A plain minio client, to set up and inspect the bucket behind a storage's back."""
    secure = service.endpoint.startswith("https://")
    host = service.endpoint.split("://", 1)[1]
    return Minio(host, service.access_key, service.secret_key, secure=secure)
