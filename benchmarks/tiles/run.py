"""Random IIIF tiles/s, p50 and p99, cold and warm: our image server beside IIPImage.

    .venv/bin/python -m benchmarks.tiles.run            # about 3 minutes
    .venv/bin/python -m benchmarks.tiles.run --big      # then the 300 MP memory mode

Both servers read one pyramidal TIFF built by ``image_server.pyramids.build_pyramid``,
get two processes each, and are driven by wrk on 127.0.0.1 over the same seeded tile list.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import memory, report, servers, urls, wrk
from .image import WORK, TestImage, describe, ensure_pyramid
from .procs import ResourceSampler, Servers, drop_page_cache
from .servers import Launch, Target

TARGETS = {"cold": 1.5, "warm": 1.5}  # ours/IIPImage tiles/s we aim for
P99_TARGET = 2.0  # ours/IIPImage p99 no worse than this


@dataclass(frozen=True, slots=True)
class Contender:
    """One server under test: its name, how it builds a Target, and its tile URL style."""

    name: str
    make: Callable[[Launch], Target]
    suffix: Callable[[urls.Tile], str]
    paths: Path
    retry: bool  # ours may be mid-change by another engineer: retry a failed start


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--server", choices=("gunicorn", "granian"), default="granian", help="our WSGI server")
    add("--only", choices=("both", "ours", "iipimage"), default="both")
    add("--duration", type=float, default=15.0, help="seconds per measurement")
    add("--warmup", type=float, default=8.0, help="seconds of warm-up before a warm one")
    add("--rounds", type=int, default=2, help="repeat cold+warm, order swapped; medians kept")
    add("--threads", type=int, default=2, help="wrk threads")
    add("--connections", type=int, default=8, help="wrk connections")
    add("--workers", type=int, default=2, help="processes per server (both servers)")
    add("--worker-threads", type=int, default=4, help="threads per worker of ours")
    add("--cache-mb", type=int, default=256, help="tile cache per process when warm")
    add("--tiles", type=int, default=2000, help="length of the random tile list")
    add("--width", type=int, default=12000)
    add("--height", type=int, default=9000)
    add("--seed", type=int, default=20240601)
    add("--rebuild", action="store_true", help="rebuild the pyramid even if one exists")
    add("--retry-pause", type=float, default=60.0, help="seconds before retrying our start")
    add("--big", action="store_true", help="also run the 300 MP memory mode afterwards")
    add(
        "--keep-page-cache",
        action="store_true",
        help="do not drop the OS page cache before each measurement (the smoke run in make test)",
    )
    add(
        "--iipsrv",
        default=servers.IIPSRV,
        help="the peer's FastCGI binary (default: Debian's iipimage-server package)",
    )
    return parser.parse_args(argv)


def start_target(
    pool: Servers, contender: Contender, launch: Launch, image: TestImage, pause: float
) -> Target:
    """Start a contender and check info.json and tiles; retry ours twice after a pause."""
    attempts = 3 if contender.retry else 1
    for attempt in range(1, attempts + 1):
        target = contender.make(launch)
        pool.start(target.server)
        try:
            target.server.wait_ready(servers.ready_url(target))
            verify(target, contender, image)
            return target
        except RuntimeError as exc:
            pool.stop(target.server)
            if attempt == attempts:
                raise
            print(f"  {contender.name} failed to start ({exc}); retrying in {pause:.0f}s")
            time.sleep(pause)
    raise AssertionError("unreachable")


def verify(target: Target, contender: Contender, image: TestImage) -> None:
    """info.json and one interior tile per scale plus the corner edge tile must be right."""
    servers.check_info(target, image)
    w, h = image.width, image.height
    samples = [urls.tile_at(w, h, s, 1, 1) for s in urls.SCALE_FACTORS]
    corner = urls.tile_at(w, h, 1, (w - 1) // urls.TILE, (h - 1) // urls.TILE)
    for tile in [*samples, corner]:
        servers.check_image(target, contender.suffix(tile), (tile.out_w, tile.out_h))


def measure(
    pool: Servers,
    contender: Contender,
    phase: str,
    launch: Launch,
    load: wrk.Load,
    args: argparse.Namespace,
    image: TestImage,
) -> dict[str, Any]:
    """Start one server fresh, warm it if asked, run wrk while sampling its memory, stop it."""
    page_cache = "kept" if args.keep_page_cache else drop_page_cache()
    target = start_target(pool, contender, launch, image, args.retry_pause)
    warmup = None
    if phase == "warm":
        warm = wrk.run(
            target.base, contender.paths, wrk.Load(args.warmup, load.threads, load.connections)
        )
        warmup = {"requests": warm.requests, "passes": round(warm.requests / args.tiles, 1)}
    load_before = report.load_average()
    with ResourceSampler(target.server.pid) as sampler:
        result = wrk.run(target.base, contender.paths, load)
    pool.stop(target.server)
    cpu = sampler.cpu()
    print(
        f"  {contender.name:>18} {phase}: {result.requests_per_s:8,.0f} tiles/s"
        f"  (CPU: server {cpu['server_pct']:.0f}%, wrk {cpu['wrk_pct']:.0f}%,"
        f" others {cpu['others_pct']:.0f}%, steal {cpu['steal_pct']:.0f}%)"
    )
    return {
        "server": contender.name,
        "phase": phase,
        "cache_mb": launch.cache_mb,
        "page_cache": page_cache,
        "warmup": warmup,
        "load_average_before": load_before,
        "memory": sampler.summary(),
        "cpu": cpu,
        "wrk": result.to_json(),
    }


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median tiles/s and latencies over rounds for each server and phase."""
    rows = []
    keys = dict.fromkeys((str(r["phase"]), str(r["server"])) for r in runs)
    for phase, server in keys:
        same = [r for r in runs if (r["phase"], r["server"]) == (phase, server)]
        results = [r["wrk"] for r in same]
        rows.append(
            {
                "phase": phase,
                "server": server,
                "tiles_per_s": statistics.median(x["requests_per_s"] for x in results),
                "rounds": [round(x["requests_per_s"]) for x in results],
                "tiles_per_cpu_s": statistics.median(per_cpu_second(r) for r in same),
                "p50_ms": statistics.median(x["latency_ms"]["50"] for x in results),
                "p99_ms": statistics.median(x["latency_ms"]["99"] for x in results),
                "non_2xx": sum(x["non_2xx"] for x in results),
                "socket_errors": sum(sum(x["socket_errors"].values()) for x in results),
                "bytes_per_tile": statistics.median(x["bytes_per_response"] for x in results),
                "peak_rss_mb": max(r["memory"]["peak_rss_mb"] for r in same),
                "others_cpu_pct": max(r["cpu"]["others_pct"] + r["cpu"]["steal_pct"] for r in same),
            }
        )
    return rows


def per_cpu_second(run: dict[str, Any]) -> float:
    """Tiles per CPU-second the server itself used: steadier than tiles/s on a shared machine."""
    cpu_seconds_per_second = float(run["cpu"]["server_pct"]) / 100 * (os.cpu_count() or 1)
    return float(run["wrk"]["requests_per_s"]) / max(cpu_seconds_per_second, 1e-9)


def ratios(summary: list[dict[str, Any]], ours: str) -> list[dict[str, Any]]:
    """ours/IIPImage for tiles/s (higher is better) and p50, p99 (lower is better)."""
    rows = []
    for phase, target in TARGETS.items():
        mine = next((s for s in summary if s["phase"] == phase and s["server"] == ours), None)
        theirs = next(
            (s for s in summary if (s["phase"], s["server"]) == (phase, "IIPImage")), None
        )
        if not mine or not theirs:
            continue
        speed = round(mine["tiles_per_s"] / theirs["tiles_per_s"], 2)
        rows.append(
            {
                "phase": phase,
                "tiles_per_s_ratio": speed,
                "target": target,
                "met": speed >= target,  # judged on the ratio as shown
                "p99_met": round(mine["p99_ms"] / theirs["p99_ms"], 2) <= P99_TARGET,
                "per_cpu_ratio": round(mine["tiles_per_cpu_s"] / theirs["tiles_per_cpu_s"], 2),
                "p50_ratio": round(mine["p50_ms"] / theirs["p50_ms"], 2),
                "p99_ratio": round(mine["p99_ms"] / theirs["p99_ms"], 2),
            }
        )
    return rows


FIGURES_HEADER = (
    *("phase", "server", "tiles/s", "each round", "tiles/CPU-s", "p50 ms", "p99 ms"),
    *("non-2xx", "socket err", "bytes/tile", "peak RSS MB", "others' CPU %"),
)
RATIOS_HEADER = (
    *("phase", "tiles/s ours/IIP", "target", "met", "tiles/CPU-s ours/IIP"),
    *("p50 ours/IIP", "p99 ours/IIP", "p99 ≤ 2×"),
)


def figures_row(s: dict[str, Any]) -> list[object]:
    """One server and phase in the figures table."""
    rounds = " / ".join(f"{n:,}" for n in s["rounds"])
    return [
        *(s["phase"], s["server"], s["tiles_per_s"], rounds, s["tiles_per_cpu_s"]),
        *(s["p50_ms"], s["p99_ms"]),
        *(s["non_2xx"], s["socket_errors"], int(s["bytes_per_tile"]), s["peak_rss_mb"]),
        s["others_cpu_pct"],
    ]


def ratios_row(r: dict[str, Any]) -> list[object]:
    """One phase in the ratios table."""
    return [
        *(r["phase"], f"{r['tiles_per_s_ratio']:.2f}×", f"≥ {r['target']:g}×"),
        *("yes" if r["met"] else "no", f"{r['per_cpu_ratio']:.2f}×"),
        *(f"{r['p50_ratio']:.2f}×", f"{r['p99_ratio']:.2f}×", "yes" if r["p99_met"] else "no"),
    ]


def tables(summary: list[dict[str, Any]], ratio_rows: list[dict[str, Any]]) -> str:
    """The figures and the ratios as markdown tables."""
    figures = report.markdown_table(FIGURES_HEADER, [figures_row(s) for s in summary])
    if not ratio_rows:
        return figures
    compared = report.markdown_table(RATIOS_HEADER, [ratios_row(r) for r in ratio_rows])
    return f"{figures}\n\n{compared}"


def contenders(
    args: argparse.Namespace, image: TestImage, tiles: list[urls.Tile]
) -> list[Contender]:
    """The servers to measure, with their URL lists written to the work dir."""
    lists = WORK / "lists"
    ours_paths = urls.write_paths(
        lists / "ours.txt", f"/iiif/3/{image.identifier}", [t.iiif3() for t in tiles]
    )
    iip_paths = urls.write_paths(
        lists / "iipimage.txt", f"{servers.IIP_PATH}{image.path.name}", [t.iiif2() for t in tiles]
    )
    ours = Contender(
        f"ours ({args.server})",
        lambda launch: servers.ours(args.server, image, launch, WORK / "logs"),
        urls.Tile.iiif3,
        ours_paths,
        retry=True,
    )
    iip = Contender(
        "IIPImage",
        lambda launch: servers.iipimage(image, launch, WORK / "iipimage", args.iipsrv),
        urls.Tile.iiif2,
        iip_paths,
        retry=False,
    )
    return {"both": [ours, iip], "ours": [ours], "iipimage": [iip]}[args.only]


def launches(args: argparse.Namespace) -> dict[str, Launch]:
    """Cold: every cache off. Warm: tile caches on, and our derivative disk cache."""
    derivatives = WORK / "derivative-cache"
    shutil.rmtree(derivatives, ignore_errors=True)
    derivatives.mkdir(parents=True)
    return {
        "cold": Launch(args.workers, args.worker_threads, 0, None),
        "warm": Launch(args.workers, args.worker_threads, args.cache_mb, derivatives),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Build the image, measure every contender cold then warm, and write the report."""
    args = parse_args(argv)
    started = time.time()
    host = report.machine()
    print(f"pyramid: {args.width}x{args.height}, seed {args.seed}")
    image = ensure_pyramid(args.width, args.height, args.seed, args.rebuild)
    tiles = urls.random_tiles(args.width, args.height, args.tiles, args.seed)
    load = wrk.Load(args.duration, args.threads, args.connections)
    runs: list[dict[str, Any]] = []
    big: dict[str, Any] | None = None
    with Servers() as pool:
        chosen = contenders(args, image, tiles)
        for n in range(args.rounds):
            order = chosen if n % 2 == 0 else chosen[::-1]
            for phase, launch in launches(args).items():
                for contender in order:
                    runs.append(measure(pool, contender, phase, launch, load, args, image))
        if args.big:
            big = memory.run_memory(memory.parse_args(["--server", args.server]), pool)
    summary = summarise(runs)
    ratio_rows = ratios(summary, f"ours ({args.server})")
    peer = f"IIPImage {servers.iipsrv_version(args.iipsrv)} ({args.iipsrv})"
    markdown = f"Peer: {peer}\n\n" + tables(summary, ratio_rows)
    stem = f"tiles-{report.timestamp()}"
    data = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "elapsed_s": round(time.time() - started, 1),
        "machine": host,
        "code": report.git_state(),
        "tools": report.tool_versions(),
        "peer": peer,
        "options": vars(args),
        "image": describe(image),
        "tile_mix": urls.mix(tiles),
        "summary": summary,
        "ratios": ratio_rows,
        "runs": runs,
        "memory_mode": big,
    }
    if big:
        markdown += "\n\n" + memory.table(big)
    json_path, md_path = report.write_results(stem, data, markdown)
    print(f"\n{markdown}\n\nwrote {json_path}\n      {md_path}  ({data['elapsed_s']} s)")
    wrong = sum(row["non_2xx"] + row["socket_errors"] for row in summary)
    if wrong:
        print(f"{wrong} tile requests were answered wrongly or not at all")
    return 1 if wrong else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("\ninterrupted: every server this run started has been stopped")
