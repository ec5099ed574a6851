"""A site served at another address than its manifests were written for: `tangthu serve`
rewrites them, and /ready says so until they fit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskCliRunner

from repository import create_app
from repository.extensions import db
from repository.models import Item
from tests.servers import free_port

TANGTHU = Path(sys.executable).parent / "tangthu"


def publish_one(runner: FlaskCliRunner, app: Flask, make_pages: Any) -> str:
    folder = str(make_pages(count=2))
    args = ["ingest", folder, "--collection", "sach", "--title", "Sách", "--publish"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    with app.app_context():
        return str(db.session.execute(db.select(Item.id)).scalar_one())


def test_ready_reports_manifests_written_for_another_address(
    app: Flask, app_config: dict[str, Any], runner: FlaskCliRunner, make_pages: Any
) -> None:
    item_id = publish_one(runner, app, make_pages)  # for the default, port 8000
    assert app.test_client().get("/ready").get_json()["manifests"] == "ok"
    moved = create_app({**app_config, "PUBLIC_URL": "http://127.0.0.1:8100"})
    ready = moved.test_client().get("/ready")
    # Still ready: every instance shares the stored manifests; taking all of them out of
    # rotation would not mend one id.
    assert ready.status_code == 200
    assert ready.get_json()["manifests"] == "base-url-mismatch"
    result = moved.test_cli_runner().invoke(args=["publish", "--all"])
    assert result.exit_code == 0, result.output
    assert moved.test_client().get("/ready").get_json()["manifests"] == "ok"
    manifest = moved.test_client().get(f"/iiif/2/{item_id}/manifest").get_json()
    assert manifest["@id"] == f"http://127.0.0.1:8100/iiif/2/{item_id}/manifest"
    with moved.app_context():
        db.engine.dispose()


def test_serve_on_another_port_republishes_for_it(
    app: Flask, app_config: dict[str, Any], runner: FlaskCliRunner, make_pages: Any
) -> None:
    """Loaded for port 8000 (the default), then `tangthu serve --port P`: every id says P."""
    item_id = publish_one(runner, app, make_pages)
    with app.app_context():
        db.engine.dispose()
    web, images = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TANGTHU_PUBLIC_URL", "TANGTHU_IMAGE_URL")
    }
    env["TANGTHU_INSTANCE_PATH"] = app_config["INSTANCE_PATH"]
    if app_config.get("DATABASE_URL"):
        env["TANGTHU_DATABASE_URL"] = app_config["DATABASE_URL"]
    log = Path(app_config["INSTANCE_PATH"]) / "serve.log"
    with log.open("wb") as output:
        serve = subprocess.Popen(
            [str(TANGTHU), "serve", "--port", str(web), "--image-port", str(images)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            ready = wait_for(f"http://127.0.0.1:{web}/ready", serve, log)
            url = f"http://127.0.0.1:{web}/iiif/{item_id}/manifest"
            with urllib.request.urlopen(url, timeout=10) as response:
                manifest = json.loads(response.read())
        finally:
            stop(serve)
    said = log.read_text()
    assert f"republished the manifests of 1 items for http://127.0.0.1:{web}" in said, said
    assert "(they were written for http://127.0.0.1:8000)" in said
    assert ready["manifests"] == "ok"
    assert manifest["id"] == url
    body = manifest["items"][0]["items"][0]["items"][0]["body"]
    assert body["service"][0]["id"].startswith(f"http://127.0.0.1:{images}/iiif/3/")


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                answer: dict[str, str] = json.loads(response.read())
                return answer
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer; {log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a librarian stops the demo: serve stops both servers itself."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group this test started, nothing else
        process.wait()
