"""S3 storage end to end: ingest writes to S3, the image server reads through its cache."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import pytest
import pyvips

from repository import create_app
from repository.extensions import db
from repository.models import Image
from tests.helpers import draw_grid_image, tile_colour
from tests.s3server import S3Service, admin_client, real_s3_service  # noqa: F401  (SeaweedFS)
from tests.servers import Server


def test_ingest_to_s3_and_serve_tiles_from_the_read_through_cache(
    s3_service: S3Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    url = f"s3://{s3_service.bucket}/{prefix}"
    for name, value in s3_service.environ(
        TANGTHU_S3_CACHE_DIR=str(tmp_path / "repo-cache")
    ).items():
        monkeypatch.setenv(name, value)
    instance = tmp_path / "instance"
    app = create_app(
        {"INSTANCE_PATH": str(instance), "SECRET_KEY": "x", "STORAGE_URL": url, "TESTING": True}
    )
    folder = tmp_path / "scan"
    folder.mkdir()
    draw_grid_image(1100, 700).pngsave(str(folder / "1.png"))
    with app.app_context():
        db.create_all()
    result = app.test_cli_runner().invoke(
        args=["ingest", str(folder), "--collection", "c", "--publish"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        image = db.session.execute(db.select(Image)).scalar_one()
        keys = {image.master_key, image.pyramid_key}
    stored = {
        str(o.object_name).removeprefix(f"{prefix}/")
        for o in admin_client(s3_service).list_objects(s3_service.bucket, prefix, recursive=True)
    }
    assert keys <= stored
    assert not (instance / "storage").exists()  # nothing went to local disk

    cache = tmp_path / "image-cache"
    env = s3_service.environ(
        TANGTHU_STORAGE_URL=url,
        TANGTHU_S3_CACHE_DIR=str(cache),
        TANGTHU_INSTANCE_PATH=str(instance),
    )
    with Server("image_app", env) as server:
        with urllib.request.urlopen(f"{server.url}/iiif/3/{image.id}/info.json") as response:
            assert json.load(response)["width"] == 1100
        tile_url = f"{server.url}/iiif/3/{image.id}/256,256,256,256/256,/0/default.jpg"
        with urllib.request.urlopen(tile_url) as response:
            tile = pyvips.Image.new_from_buffer(response.read(), "")
    assert [round(tile[b].avg()) for b in range(3)] == pytest.approx(tile_colour(1, 1), abs=4)
    cached = sorted(p.suffix for p in cache.glob("data/*/*"))
    assert cached == [".json", ".tif"]  # one local copy of the pyramid, and its sidecar


def test_the_seaweedfs_compose_example_replaces_minio_for_the_apps() -> None:
    """deploy/compose.seaweedfs.yaml: SeaweedFS answers where the apps look for S3."""
    import re

    import yaml

    deploy = Path(__file__).resolve().parents[1] / "deploy"
    base = yaml.safe_load((deploy / "compose.yaml").read_text())
    override = yaml.safe_load((deploy / "compose.seaweedfs.yaml").read_text())
    store = override["services"]["minio"]
    script = store["command"][0]
    assert store["image"].startswith("chrislusf/seaweedfs")
    assert "weed server" in script and "-s3.port=9000" in script and "-filer" in script
    endpoint = base["services"]["repository"]["environment"]["TANGTHU_S3_ENDPOINT"]
    assert endpoint == "http://minio:9000"  # the port the SeaweedFS gateway listens on
    for variable in ("TANGTHU_S3_ACCESS_KEY", "TANGTHU_S3_SECRET_KEY"):
        assert f"$${variable}" in script  # the apps' key is SeaweedFS's identity
    example = (deploy / "env.example").read_text()
    used = set(re.findall(r"\$\{(\w+)", (deploy / "compose.seaweedfs.yaml").read_text()))
    assert used and all(f"{name}=" in example for name in used)
