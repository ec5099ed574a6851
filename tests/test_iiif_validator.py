"""The official IIIF Image API validator (iiif-validator on PyPI), level 2, 3.0 and 2.1."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from image_server.pyramids import build_pyramid
from tests.helpers import open_policy
from tests.servers import Server

IDENTIFIER = "67352ccc-d1b0-11e1-89ae-279075081939"
VALIDATOR = Path(sys.executable).parent / "iiif-validate.py"


@pytest.fixture(scope="module")
def server(standards: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    storage = tmp_path_factory.mktemp("validator")
    (storage / "pyramids").mkdir()
    build_pyramid(
        standards / f"iiif-image-validator-{IDENTIFIER}.png",
        storage / "pyramids" / f"{IDENTIFIER}.tif",
    )
    open_policy(storage, IDENTIFIER)
    env = {"TANGTHU_STORAGE_URL": storage.as_uri(), "TANGTHU_INSTANCE_PATH": str(storage)}
    with Server("image_app", env) as running:
        yield running


@pytest.mark.parametrize(("prefix", "version"), [("iiif/3", "3.0"), ("iiif/2", "2.0")])
def test_official_validator_passes_level_2(server: Server, prefix: str, version: str) -> None:
    # The 2.1 endpoint is checked with --version 2.0: the validator's 2.1 mode asks for
    # the 1.x 'native' quality.
    result = subprocess.run(
        [
            sys.executable,
            str(VALIDATOR),
            "-s",
            f"127.0.0.1:{server.port}",
            "-p",
            prefix,
            "-i",
            IDENTIFIER,
            f"--version={version}",
            "--level=2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    summary = re.search(r"Done \((\d+) tests, (\d+) failures\)", output)
    assert summary, output
    tests, failures = int(summary.group(1)), int(summary.group(2))
    assert tests >= 30 and failures == 0, output
