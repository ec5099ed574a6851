"""Serve both apps for the demo: the repository under gunicorn, the image server under
granian exactly as deploy/ runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from manifests import Urls

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, help="The repository's port.")
@click.option("--image-port", default=8182, show_default=True, help="The image server's port.")
@click.option("--workers", default=1, show_default=True, help="Jobs the worker runs at once.")
@with_appcontext
def serve(host: str, port: int, image_port: int, workers: int) -> None:
    """Serve the repository (gunicorn), the image server (granian) and a job-queue worker
    until Ctrl-C."""
    env = dict(os.environ)
    env.setdefault("TANGTHU_INSTANCE_PATH", current_app.instance_path)
    env.setdefault("TANGTHU_STORAGE_URL", current_app.config["STORAGE_URL"])
    env.setdefault("TANGTHU_PUBLIC_URL", f"http://{host}:{port}")
    env.setdefault("TANGTHU_IMAGE_URL", f"http://{host}:{image_port}")
    env.setdefault("TANGTHU_ACCESS_TOKEN_KEYS", current_app.config["ACCESS_TOKEN_KEYS"])
    # The image server decides by the same reading room and partners as the repository.
    for shared in ("ONSITE_RANGES", "PARTNER_ORIGINS", "PROXY_HOPS"):
        env.setdefault(f"TANGTHU_{shared}", json.dumps(current_app.config[shared]))
    follow_base_url(Urls(env["TANGTHU_PUBLIC_URL"], env["TANGTHU_IMAGE_URL"]))
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(PROJECT_ROOT),
        "--worker-class",
        "gthread",
        "--threads",
        "8",
        "--access-logfile",
        "-",
        "--no-control-socket",
    ]
    # The image server exactly as deploy/ runs it: granian, one worker per core.
    image_env = {
        **env,
        "TANGTHU_IMAGE_BIND": f"{host}:{image_port}",
        "TANGTHU_IMAGE_WORKERS": env.get("TANGTHU_IMAGE_WORKERS", "2"),
        "GRANIAN": f"{sys.executable} -m granian",
    }
    processes = [
        subprocess.Popen(
            ["sh", str(PROJECT_ROOT / "deploy" / "granian_image.sh")],
            env=image_env,
            cwd=str(PROJECT_ROOT),
        ),
        subprocess.Popen(
            [*gunicorn, "--bind", f"{host}:{port}", "--workers", "2", "wsgi:repository_app()"],
            env=env,
        ),
        # The worker that runs uploads, OCR and PDFs from the job queue.
        subprocess.Popen(
            [sys.executable, "-m", "repository.cli", "worker", "--workers", str(workers)],
            env=env,
            cwd=str(PROJECT_ROOT),
        ),
    ]
    click.echo(
        f"Tàng Thư: http://{host}:{port}/  (images: http://{host}:{image_port}/)"
        f"  and a worker ({workers} at once). Ctrl-C stops them all."
    )
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)


def follow_base_url(served: Urls) -> None:
    """Rewrite the stored manifests when they were written for other base URLs (the
    sample loaded for port 8000, served on 8100): every id in them must work here."""
    from .. import get_storage
    from ..services.publish import follow_base
    from ..web import publish_settings

    moved = follow_base(get_storage(), publish_settings(served))
    if moved is not None:
        count, before = moved
        click.echo(
            f"republished the manifests of {count} items for {served.base}"
            f" (they were written for {before or 'an unrecorded address'})"
        )


COMMANDS = (serve,)
