"""The repository as deployed is made once in gunicorn's master and forked into workers
(``preload_app``). Nothing may be under way in the master when it forks: a thread's held
locks (a count being worked out, a connection in use) go to each worker with no thread to
let them go, and that worker's requests for them wait forever."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, threading
from repository import create_app, serve
from repository.extensions import ensure_database
from repository.services.collections import RENEWED

with create_app().app_context():  # the schema, as `tangthu serve` makes it first
    ensure_database()
before = set(threading.enumerate())

app = serve()
after_serve = sorted(t.name for t in threading.enumerate() if t not in before)
status = app.test_client().get("/iiif/discovery/collection").status_code
counting = [t for t in threading.enumerate() if t.name == "count-ahead"]
for thread in counting:
    thread.join(30)
print(json.dumps({
    "after_serve": after_serve,
    "status": status,
    "counted": sorted(str(key[0]) for key in RENEWED.latest),
}))
"""


def test_serve_starts_no_thread_before_a_fork_and_counts_ahead_in_each_worker(
    tmp_path: Path,
) -> None:
    instance = tmp_path / "instance"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TANGTHU_")},
        "TANGTHU_INSTANCE_PATH": str(instance),
        "TANGTHU_SECRET_KEY": secrets.token_urlsafe(48),
        "TANGTHU_PUBLIC_URL": "http://127.0.0.1:9",
        "TANGTHU_IMAGE_URL": "http://127.0.0.1:9",
        "TANGTHU_STORAGE_URL": (instance / "storage").as_uri(),
        "TANGTHU_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["after_serve"] == []  # what a master would fork with: nothing running
    assert report["status"] == 200
    # The first request of the process started the counts ahead, Discovery's among them.
    assert {"discovery", "browse-terms"} <= set(report["counted"])
