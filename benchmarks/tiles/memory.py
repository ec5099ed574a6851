"""Peak memory of our image server rendering large non-tile images from a 300 MP pyramid.

    .venv/bin/python -m benchmarks.tiles.memory            # ours only, about 1 minute
    .venv/bin/python -m benchmarks.tiles.memory --iip      # IIPImage too, for reference

Requests mix ``full/max``, ``full/!2000,2000`` and random ``pct:`` regions at ``max`` and
``!1500,1500``: the renders that decode many tiles at once and so set the memory peak.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

from image_server.config import DEFAULTS

from . import report, servers, urls, wrk
from .image import WORK, describe, ensure_pyramid
from .procs import ResourceSampler, Servers, drop_page_cache
from .servers import Launch, Target

OUR_MAX_AREA = int(DEFAULTS["MAX_AREA"])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--server", choices=("gunicorn", "granian"), default="granian", help="our WSGI server")
    add("--iip", action="store_true", help="measure IIPImage on the same requests too")
    add("--duration", type=float, default=20.0, help="seconds under load")
    add("--threads", type=int, default=2, help="wrk threads")
    add("--connections", type=int, default=4, help="wrk connections")
    add("--workers", type=int, default=2, help="processes per server")
    add("--worker-threads", type=int, default=4, help="threads per worker of ours")
    add("--cache-mb", type=int, default=0, help="tile cache per process (0: render every time)")
    add("--disk-cache", action="store_true", help="turn our derivative disk cache on")
    add("--requests", type=int, default=200, help="length of the request list")
    add("--width", type=int, default=20000)
    add("--height", type=int, default=15000)
    add("--seed", type=int, default=20240601)
    add("--rebuild", action="store_true", help="rebuild the pyramid even if one exists")
    return parser.parse_args(argv)


def serve_and_sample(
    pool: Servers, target: Target, suffixes: list[str], args: argparse.Namespace
) -> dict[str, object]:
    """Start ``target``, load it with the mixed list while sampling memory, stop it."""
    page_cache = drop_page_cache()
    paths = urls.write_paths(
        WORK / "lists" / f"memory-{target.server.name}.txt", target.image_prefix, suffixes
    )
    pool.start(target.server)
    target.server.wait_ready(servers.ready_url(target))
    for suffix in suffixes[:4]:  # one of each kind must be a 200 JPEG before the load
        servers.check_image(target, suffix)
    load = wrk.Load(args.duration, args.threads, args.connections, 60.0, count_statuses=True)
    sampler = ResourceSampler(target.server.pid)
    sampler.sample()
    idle = sampler.summary()["peak_rss_mb"]
    with sampler:
        result = wrk.run(target.base, paths, load)
    pool.stop(target.server)
    split = ", ".join(f"{seconds:g}" for seconds in sampler.cpu()["per_process_cpu_s"])
    peak = sampler.summary()["peak_rss_mb"]
    print(f"  {target.name:>18} memory: peak RSS {peak:,.0f} MB (CPU s by process: {split})")
    return {
        "server": target.name,
        "page_cache": page_cache,
        "idle_rss_mb": idle,
        "memory": sampler.summary(),
        "cpu": sampler.cpu(),
        "wrk": result.to_json(),
    }


def run_memory(args: argparse.Namespace, pool: Servers) -> dict[str, object]:
    """Build the big pyramid and measure each server's memory under the mixed load."""
    print(f"memory mode: {args.width}x{args.height} pyramid")
    image = ensure_pyramid(args.width, args.height, args.seed, args.rebuild)
    suffixes = urls.mixed_renders(args.requests, args.seed)
    derivatives = WORK / "derivative-cache-memory" if args.disk_cache else None
    if derivatives:
        shutil.rmtree(derivatives, ignore_errors=True)
        derivatives.mkdir(parents=True)
    # IIPImage caps width and height (MAX_CVT), ours caps area: give both the same full/max.
    max_cvt = math.ceil(
        math.sqrt(OUR_MAX_AREA * max(args.width, args.height) / min(args.width, args.height))
    )
    launch = Launch(args.workers, args.worker_threads, args.cache_mb, derivatives, max_cvt)
    targets = [servers.ours(args.server, image, launch, WORK / "logs")]
    if args.iip:
        targets.append(servers.iipimage(image, launch, WORK / "iipimage"))
    return {
        "image": describe(image),
        "options": vars(args),
        "requests": summarise_mix(suffixes),
        "runs": [serve_and_sample(pool, target, suffixes, args) for target in targets],
    }


def summarise_mix(suffixes: list[str]) -> dict[str, int]:
    """Counts of each kind of request in the list."""
    kinds = {"full/max": 0, "full/!2000,2000": 0, "pct:…/max": 0, "pct:…/!1500,1500": 0}
    for suffix in suffixes:
        region, size = suffix.split("/")[:2]
        kinds[f"{'full' if region == 'full' else 'pct:…'}/{size}"] += 1
    return kinds


MEMORY_HEADER = (
    *("memory mode", "idle RSS MB", "peak RSS MB", "peak PSS MB", "requests"),
    *("200s/s", "p50 ms", "p99 ms", "statuses", "socket err"),
)


def memory_row(run: dict[str, Any]) -> list[object]:
    """One server's line of the memory table."""
    got, memory = run["wrk"], run["memory"]
    statuses = " ".join(f"{code}: {count}" for code, count in sorted(got["statuses"].items()))
    return [
        *(run["server"], run["idle_rss_mb"], memory["peak_rss_mb"], memory["peak_pss_mb"]),
        *(got["requests"], got["statuses"].get("200", 0) / got["seconds"]),
        *(got["latency_ms"]["50"], got["latency_ms"]["99"], statuses),
        sum(got["socket_errors"].values()),
    ]


def table(result: dict[str, Any]) -> str:
    """Peak memory and successful renders per second of each server, as markdown."""
    rows = [memory_row(run) for run in result["runs"]]
    megapixels = result["image"]["megapixels"]
    return (
        f"{report.markdown_table(MEMORY_HEADER, rows)}\n\n({megapixels} MP pyramid, mixed renders)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the memory mode alone and write ``results/memory-<timestamp>.{json,md}``."""
    args = parse_args(argv)
    started = time.time()
    host = report.machine()
    with Servers() as pool:
        result = run_memory(args, pool)
    data = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "elapsed_s": round(time.time() - started, 1),
        "machine": host,
        "code": report.git_state(),
        **result,
    }
    markdown = table(result)
    json_path, md_path = report.write_results(f"memory-{report.timestamp()}", data, markdown)
    print(f"\n{markdown}\n\nwrote {json_path}\n      {md_path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("\ninterrupted: every server this run started has been stopped")
