"""Manifests: build time for a 2,000-canvas item, and serving speed beside a static server.

    .venv/bin/python -m benchmarks.manifests.run [--canvases 2000] [--duration 10]

1. Build: an item with N pages is made in a fresh instance (rows only: building a
   manifest never reads an image), and `render_manifests` (3.0 and 2.1, as publish does)
   is timed. Target: under 1 s for 2,000 canvases.
2. Serve: the repository under gunicorn (as deployed) answers GET for the stored
   manifest with wrk -t2 -c8; lighttpd serving the same bytes as a static file is the
   peer, so the ratio shows what Flask costs. Target: over 1,000 requests/s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
LIGHTTPD = """server.document-root = "{root}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{root}/lighttpd.log"
mimetype.assign = (".json" => "application/ld+json")
"""


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_item(instance: Path, canvases: int) -> tuple[str, float, int]:
    """A published item with `canvases` pages; (id, build seconds, manifest bytes)."""
    os.environ["TANGTHU_INSTANCE_PATH"] = str(instance)
    from repository import create_app, get_storage
    from repository.extensions import db
    from repository.models import Collection, Image, Item
    from repository.services.publish import publish_item, render_manifests
    from repository.web import publish_settings

    app = create_app({"PUBLIC_URL": "http://127.0.0.1:8000"})  # secret key: made in instance
    with app.test_request_context():
        db.create_all()
        collection = Collection(slug="bench", title={"vi": "Đo"})
        item = Item(
            id="bench2000",
            collection=collection,
            status="draft",
            title={"vi": "Sách hai nghìn trang", "en": "A 2,000-page book"},
            dc={"creator": [{"value": "Khuyết danh", "lang": "vi"}]},
            viewing_direction="right-to-left",
        )
        item.images = [
            Image(
                id=f"p{n:05d}",
                position=n,
                label=f"tờ {n}",
                media_type="image/jpeg",
                width=2400,
                height=3600,
                byte_size=1,
                sha256="0" * 64,
                derivative_sha256="0" * 64,
                master_key="m",
                pyramid_key=f"pyramids/p{n}.tif",
            )
            for n in range(1, canvases + 1)
        ]
        db.session.add(item)
        db.session.commit()
        settings = publish_settings()
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            v3, _v2 = render_manifests(item, settings)
            timings.append(time.perf_counter() - start)
        publish_item(item, get_storage(), settings)
        # What is served: the stored file (and its gzip copy), not the build's own string.
        stored = instance / "storage" / "manifests" / f"{item.id}.json"
        return item.id, min(timings), stored.stat().st_size


def wrk(url: str, duration: int, gzip: bool = False) -> dict[str, float]:
    headers = ["-H", "Accept-Encoding: gzip"] if gzip else []
    output = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{duration}s", "--latency", *headers, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_s": rate,
        "p50_ms": float(p50.group(1)) * unit[p50.group(2)] if p50 else float("nan"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def check(url: str, canvases: int) -> None:
    """The served manifest, plain and gzipped, is the whole book: or the run stops."""
    import gzip

    for encoding in ("identity", "gzip"):
        request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
        found = len(json.loads(body)["items"])
        if found != canvases:
            raise SystemExit(f"the {encoding} manifest has {found} canvases, not {canvases}")


def wait(url: str) -> None:
    for _ in range(100):
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description="manifest build and serve benchmark")
    parser.add_argument("--canvases", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="200 canvases, 2 s: check it runs")
    args = parser.parse_args()
    if args.smoke:
        args.canvases, args.duration = 200, 2
    work = Path(tempfile.mkdtemp(prefix="tangthu-manifest-bench-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        instance = work / "instance"
        item_id, build_s, size = make_item(instance, args.canvases)
        gzipped = (instance / "storage" / "manifests" / f"{item_id}.json.gz").stat().st_size
        print(
            f"build: {args.canvases} canvases, 3.0 + 2.1, best of 5: {build_s:.3f} s; "
            f"the stored 3.0 file is {size / 1e6:.1f} MB ({gzipped / 1e6:.2f} MB gzipped)",
            flush=True,
        )
        static = work / "static"
        static.mkdir()
        shutil.copy(instance / "storage" / "manifests" / f"{item_id}.json", static / "m.json")
        port, static_port = free_port(), free_port()
        env = {**os.environ, "TANGTHU_INSTANCE_PATH": str(instance)}
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--chdir",
                    str(ROOT),
                    "-b",
                    f"127.0.0.1:{port}",
                    "-w",
                    "2",
                    "-k",
                    "gthread",
                    "--threads",
                    "4",
                    "--no-control-socket",
                    "--log-level",
                    "warning",
                    "wsgi:repository_app()",
                ],
                env=env,
            )
        )
        conf = work / "lighttpd.conf"
        conf.write_text(LIGHTTPD.format(root=static, port=static_port))
        processes.append(subprocess.Popen(["lighttpd", "-D", "-f", str(conf)]))
        ours = f"http://127.0.0.1:{port}/iiif/{item_id}/manifest"
        peer = f"http://127.0.0.1:{static_port}/m.json"
        wait(ours)
        wait(peer)
        check(ours, args.canvases)
        results = {
            "ours (Flask, gunicorn)": wrk(ours, args.duration),
            "lighttpd static file": wrk(peer, args.duration),
            "ours, gzip (as browsers ask)": wrk(ours, args.duration, gzip=True),
        }
        ratio = (
            results["ours (Flask, gunicorn)"]["requests_per_s"]
            / results["lighttpd static file"]["requests_per_s"]
        )
        for name, figures in results.items():
            print(
                f"serve: {name}: {figures['requests_per_s']:,.0f} req/s, "
                f"p50 {figures['p50_ms']:.2f} ms, non-2xx {figures['non_2xx']}"
            )
        print(f"serve: ours / static = {ratio:.2f}")
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"manifests-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(
            json.dumps(
                {
                    "canvases": args.canvases,
                    "build_seconds": build_s,
                    "manifest_bytes": size,
                    "serve": results,
                    "ratio_ours_to_static": ratio,
                },
                indent=2,
            )
        )
        print(f"written {out}")
        if any(figures["non_2xx"] for figures in results.values()):
            raise SystemExit("some answers were not 2xx")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
