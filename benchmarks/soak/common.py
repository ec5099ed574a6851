"""What the soak and fault scripts share: a throwaway instance, the servers as deployed,
the sample's IIIF resources found over HTTP, and process-tree memory from /proc."""

from __future__ import annotations

import json
import math
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from benchmarks.tiles.procs import HOST, Server, Servers, free_port, process_tree

ROOT = Path(__file__).resolve().parents[2]
SOAK = ROOT / "benchmarks" / "soak"
BIN = Path(sys.executable).parent
TANGTHU = BIN / "tangthu"

__all__ = ["HOST", "Server", "Servers", "free_port", "process_tree"]


def instance_env(instance: Path, web_port: int, image_port: int) -> dict[str, str]:
    """The TANGTHU_* settings both apps and the CLI share, as `tangthu serve` sets them."""
    return {
        "TANGTHU_INSTANCE_PATH": str(instance),
        "TANGTHU_SECRET_KEY": secrets.token_hex(32),
        "TANGTHU_PUBLIC_URL": f"http://{HOST}:{web_port}",
        "TANGTHU_IMAGE_URL": f"http://{HOST}:{image_port}",
        "TANGTHU_STORAGE_URL": (instance / "storage").as_uri(),
        "TANGTHU_SESSION_COOKIE_SECURE": "false",
        "TANGTHU_ACCESS_TOKEN_KEYS": json.dumps({"soak": secrets.token_hex(32)}),
    }


def tangthu(
    env: dict[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the `tangthu` CLI with ``env`` over this process's environment."""
    return subprocess.run(
        [str(TANGTHU), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def load_sample(env: dict[str, str]) -> float:
    """Draw, ingest, publish and OCR the sample collection; return the seconds it took."""
    start = time.monotonic()
    result = tangthu(env, "load-sample")
    if result.returncode != 0:
        raise RuntimeError(f"load-sample failed:\n{result.stdout}\n{result.stderr}")
    return time.monotonic() - start


def start_repository(
    servers: Servers, env: dict[str, str], port: int, workers: int, log: Path, recycle: bool = False
) -> Server:
    """The repository under gunicorn with deploy/gunicorn_repository.py, as deployed."""
    settings = {
        "TANGTHU_REPOSITORY_BIND": f"{HOST}:{port}",
        "TANGTHU_REPOSITORY_WORKERS": str(workers),
    }
    if not recycle:  # max_requests 0: no worker is replaced, so no growth is hidden
        settings["TANGTHU_REPOSITORY_MAX_REQUESTS"] = "0"
    argv = [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT)]
    argv += ["-c", str(ROOT / "deploy" / "gunicorn_repository.py")]
    return start_server(
        servers, "repository", argv, {**env, **settings}, log, f"http://{HOST}:{port}/health"
    )


def start_image_server(
    servers: Servers,
    kind: str,
    env: dict[str, str],
    port: int,
    workers: int,
    log: Path,
    recycle: bool = False,
) -> Server:
    """The image server as deployed: granian through deploy/granian_image.sh (production,
    with --respawn-failed-workers), or gunicorn with deploy/gunicorn_image.py."""
    settings = {
        "TANGTHU_IMAGE_BIND": f"{HOST}:{port}",
        "TANGTHU_IMAGE_WORKERS": str(workers),
        "GRANIAN": f"{sys.executable} -m granian",
    }
    if kind == "granian":
        argv = ["sh", str(ROOT / "deploy" / "granian_image.sh")]
    else:
        argv = [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT)]
        argv += ["-c", str(ROOT / "deploy" / "gunicorn_image.py")]
        if not recycle:
            settings["TANGTHU_IMAGE_MAX_REQUESTS"] = "0"
    return start_server(
        servers, f"image ({kind})", argv, {**env, **settings}, log, f"http://{HOST}:{port}/health"
    )


def start_server(
    servers: Servers, name: str, argv: list[str], env: dict[str, str], log: Path, ready: str
) -> Server:
    """Start one server in its own session (so its whole tree can be stopped) and wait."""
    server = servers.start(Server(name, argv, {**os.environ, **env}, log))
    server.wait_ready(ready, timeout=90)
    return server


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (a gunicorn or granian master's workers)."""
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        found: list[int] = []
        for task in tasks:
            text = (task / "children").read_text()
            found.extend(int(word) for word in text.split())
        return sorted(set(found))
    except OSError:
        return []


def vm_rss_kb(pid: int) -> int:
    """VmRSS of one process in KiB, from /proc/<pid>/status; 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(root: int) -> tuple[float, list[int]]:
    """Summed VmRSS of ``root`` and every descendant in MiB, and the pids summed."""
    pids = process_tree(root)
    return sum(vm_rss_kb(pid) for pid in pids) / 1024, pids


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class ImageRef:
    """One page's image service, with what info.json advertises."""

    service: str
    width: int
    height: int
    tile: int
    scale_factors: list[int]


@dataclass
class ItemRef:
    """One published item of the sample, as its manifest describes it."""

    id: str
    manifest: str
    manifest2: str
    open: bool = True
    searchable: bool = False
    images: list[ImageRef] = field(default_factory=list)


def _image_services(manifest: dict[str, Any]) -> list[str]:
    services = []
    for canvas in manifest.get("items", []):
        for page in canvas.get("items", []):
            for annotation in page.get("items", []):
                for service in annotation.get("body", {}).get("service", []):
                    if str(service.get("type", "")).startswith("ImageService"):
                        services.append(service.get("id") or service.get("@id"))
    return services


def _searchable(manifest: dict[str, Any]) -> bool:
    return any("Search" in str(s.get("type", "")) for s in manifest.get("service", []))


def discover(web: str, session: requests.Session | None = None) -> list[ItemRef]:
    """Every published item reachable from the top IIIF collection, with its images'
    info.json read anonymously (an item whose info.json is refused counts as not open)."""
    http = session or requests.Session()
    manifests: list[str] = []
    todo = [f"{web}/iiif/collection/top"]
    while todo:
        collection = http.get(todo.pop(), timeout=30).json()
        for member in collection.get("items", []):
            if member.get("type") == "Collection":
                todo.append(member["id"])
            elif member.get("type") == "Manifest":
                manifests.append(member["id"])
    items = []
    for url in manifests:
        manifest = http.get(url, timeout=30).json()
        item_id = url.rstrip("/").split("/")[-2]
        item = ItemRef(
            id=item_id,
            manifest=url,
            manifest2=f"{web}/iiif/2/{item_id}/manifest",
            searchable=_searchable(manifest),
        )
        for service in _image_services(manifest):
            response = http.get(f"{service}/info.json", timeout=30)
            if response.status_code != 200:
                item.open = False
                continue
            info = response.json()
            tiles = (info.get("tiles") or [{"width": 256, "scaleFactors": [1]}])[0]
            item.images.append(
                ImageRef(
                    service=service,
                    width=int(info["width"]),
                    height=int(info["height"]),
                    tile=int(tiles["width"]),
                    scale_factors=[int(s) for s in tiles["scaleFactors"]],
                )
            )
        items.append(item)
    return items
