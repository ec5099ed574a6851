"""Soak: mixed traffic against both apps for minutes, and whether their memory levels off.

    .venv/bin/python benchmarks/soak/load.py [--seconds 600] [--concurrency 8] [--max-requests N]

1. A throwaway instance in a temp folder gets the sample collection (`tangthu load-sample`:
   four books, 15 pages, two of them read by Tesseract).
2. The repository runs under gunicorn with deploy/gunicorn_repository.py and the image
   server under granian through deploy/granian_image.sh (production's way;
   `--image-server gunicorn` uses deploy/gunicorn_image.py), 2 workers each, on free
   loopback ports. Worker recycling (gunicorn's max_requests) is off unless `--recycle`,
   so that growth is not hidden by replaced workers.
3. ``--concurrency`` threads, each with its own requests.Session, send a seeded mix for
   ``--seconds`` (or until ``--max-requests``): 60 % tiles (mostly 256-px tiles of the
   info.json grid at every scale factor, some arbitrary regions and sizes), 10 % info.json,
   10 % manifests (3.0 and 2.1), 8 % search (Vietnamese with and without diacritics,
   phrases, facets), 2 % Content Search inside the OCR'd book, 10 % pages (home,
   collection, item pages). `--mix tile=100 --arbitrary 1` (or 0) isolates one kind.
4. Every 2 s the summed VmRSS of each server's process tree (master + workers) is read
   from /proc. Memory "levels off" when the last third's mean is under 10 % above the
   middle third's, and a straight line fitted to the last half rises less than 5 % of its
   mean over that half.

Writes benchmarks/soak/load-last-run.json and benchmarks/soak/rss.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.soak import common  # noqa: E402
from benchmarks.tiles.procs import Servers, cpu_ticks, machine_ticks  # noqa: E402

MIX = {"tile": 60, "info": 10, "manifest": 10, "search": 8, "content-search": 2, "page": 10}
QUERIES = [
    "Kiều",
    "kieu",
    "Truyện Kiều",
    "truyen kieu",
    "Đoạn trường tân thanh",
    "doan truong tan thanh",
    "Địa bạ",
    "dia ba",
    "Phú Xuân",
    "phu xuan",
    "làng",
    "Châu bản triều Nguyễn",
    "chau ban trieu nguyen",
    "Nguyễn Đình Chiểu",
    "nguyen dinh chieu",
    "Lục Vân Tiên",
    "luc van tien",
    '"trước đèn xem truyện"',
    '"truoc den"',
    "nhân tình",
    "nhan tinh",
    "quốc ngữ",
    "Nôm",
    "bản mẫu",
    "không có gì",
]
FACETS = [
    {},
    {},
    {"collection": "mau"},
    {"sort": "title"},
    {"sort": "-date"},
    {"from": "1800", "to": "1900"},
    {"language": "vi"},
]
INSIDE = ["đèn", "den", "nhân tình", "Tây Minh", "tay minh", "trung hiếu", "Nguyễn", "lành", "xyz"]


@dataclass(frozen=True, slots=True)
class Record:
    kind: str
    start: float  # seconds since the load began
    end: float
    status: int  # 0: no response
    error: str  # "" when the request succeeded (2xx or 3xx)
    size: int
    url: str = ""  # kept for failures only


class Plan:
    """Picks the next request: a class by the mix's weights, then a URL of that class."""

    def __init__(
        self,
        web: str,
        items: list[common.ItemRef],
        mix: dict[str, float] = MIX,
        arbitrary: float = 0.15,
    ) -> None:
        self.web = web
        self.items = items
        self.images = [image for item in items if item.open for image in item.images]
        self.text_items = [item for item in items if item.searchable] or items
        self.kinds = [kind for kind in mix if mix[kind] > 0]
        self.weights = [mix[kind] for kind in self.kinds]
        self.arbitrary = arbitrary

    def next(self, rng: random.Random) -> tuple[str, str]:
        kind = rng.choices(self.kinds, self.weights)[0]
        return kind, getattr(self, kind.replace("-", "_"))(rng)

    def tile(self, rng: random.Random) -> str:
        image = rng.choice(self.images)
        if rng.random() >= self.arbitrary:  # a tile of info.json's grid, as viewers ask
            scale = rng.choice(image.scale_factors)
            step = image.tile * scale
            x = rng.randrange(math.ceil(image.width / step)) * step
            y = rng.randrange(math.ceil(image.height / step)) * step
            w, h = min(step, image.width - x), min(step, image.height - y)
            size = f"{math.ceil(w / scale)},{math.ceil(h / scale)}"
            return f"{image.service}/{x},{y},{w},{h}/{size}/0/default.jpg"
        w = rng.randint(64, image.width)
        h = rng.randint(64, image.height)
        x, y = rng.randint(0, image.width - w), rng.randint(0, image.height - h)
        # Never larger than the region: in 3.0 that needs '^', which viewers do not send.
        fit = f"!{rng.randint(32, min(w, 800))},{rng.randint(32, min(h, 800))}"
        size = rng.choice(
            [fit, f"pct:{rng.randint(5, 60)}", f"{rng.randint(50, min(w, 1000))},"]
            + ["max" if w * h < 1_000_000 else "pct:20"]
        )
        return f"{image.service}/{x},{y},{w},{h}/{size}/0/default.jpg"

    def info(self, rng: random.Random) -> str:
        return f"{rng.choice(self.images).service}/info.json"

    def manifest(self, rng: random.Random) -> str:
        item = rng.choice(self.items)
        return item.manifest if rng.random() < 0.5 else item.manifest2

    def search(self, rng: random.Random) -> str:
        params = {"q": rng.choice(QUERIES), **rng.choice(FACETS)}
        if rng.random() < 0.1:  # facets alone list items
            params.pop("q")
            params.setdefault("collection", "mau")
        return f"{self.web}/search?{urlencode(params)}"

    def content_search(self, rng: random.Random) -> str:
        item = rng.choice(self.text_items)
        return f"{self.web}/iiif/{item.id}/search/1?{urlencode({'q': rng.choice(INSIDE)})}"

    def page(self, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.3:
            return f"{self.web}/"
        if roll < 0.45:
            return f"{self.web}/collections/mau"
        return f"{self.web}/items/{rng.choice(self.items).id}"


class Budget:
    """At most ``limit`` requests in all (0: no limit), shared by the threads."""

    def __init__(self, limit: int) -> None:
        self.left = limit or -1
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left == 0:
                return False
            self.left -= 1
            return True


def drive(
    plan: Plan,
    index: int,
    seed: int,
    t0: float,
    deadline: float,
    budget: Budget,
    out: list[Record],
) -> None:
    """One client thread: requests back to back until the deadline or the budget ends."""
    rng = random.Random(seed * 1000 + index)
    with requests.Session() as session:
        while time.monotonic() < deadline and budget.take():
            kind, url = plan.next(rng)
            start = time.monotonic()
            status, error, size = 0, "", 0
            try:
                response = session.get(url, timeout=30, allow_redirects=False)
                status, size = response.status_code, len(response.content)
                if status >= 400:
                    error = f"HTTP {status}"
            except requests.RequestException as exc:
                error = type(exc).__name__
            end = time.monotonic() - t0
            out.append(Record(kind, start - t0, end, status, error, size, url if error else ""))


class MemorySampler:
    """Summed VmRSS of each server's process tree every ``interval`` s, and its pids."""

    def __init__(self, servers: dict[str, int], t0: float, interval: float) -> None:
        self.servers = servers
        self.t0 = t0
        self.interval = interval
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        self.workers: dict[str, set[int]] = {name: set() for name in servers}
        self.ticks: dict[int, int] = {}
        self.first_ticks: dict[int, int] = {}  # at the first sample; 0 for later processes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        now = time.monotonic() - self.t0
        for name, root in self.servers.items():
            mb, pids = common.tree_rss_mb(root)
            self.samples[name].append((round(now, 2), round(mb, 1)))
            self.workers[name].update(common.children(root))
            for pid in pids:
                ticks = cpu_ticks(pid)
                if pid not in self.ticks:
                    self.first_ticks[pid] = ticks if now < self.interval else 0
                self.ticks[pid] = max(self.ticks.get(pid, 0), ticks)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (MB per second here); 0 with fewer than 2 points."""
    if len(points) < 2:
        return 0.0
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def verdict(samples: list[tuple[float, float]], seconds: float) -> dict[str, Any]:
    """Compare the last third with the middle third, and fit a line to the last half."""
    middle = [mb for t, mb in samples if seconds / 3 <= t < 2 * seconds / 3]
    last = [mb for t, mb in samples if t >= 2 * seconds / 3]
    half = [(t, mb) for t, mb in samples if t >= seconds / 2]
    if not middle or not last or len(half) < 2:
        return {"levels_off": None, "reason": "too few samples"}
    growth = sum(last) / len(last) / (sum(middle) / len(middle)) - 1
    rate = slope(half)  # MB/s
    mean_half = sum(mb for _, mb in half) / len(half)
    span = half[-1][0] - half[0][0]
    rise = rate * span / mean_half
    return {
        "start_mb": samples[0][1],
        "end_mb": samples[-1][1],
        "peak_mb": max(mb for _, mb in samples),
        "middle_third_mean_mb": round(sum(middle) / len(middle), 1),
        "last_third_mean_mb": round(sum(last) / len(last), 1),
        "growth_last_vs_middle_pct": round(100 * growth, 2),
        "last_half_slope_mb_per_min": round(60 * rate, 3),
        "last_half_fitted_rise_pct": round(100 * rise, 2),
        "levels_off": growth < 0.10 and rise < 0.05,
    }


def class_stats(records: list[Record], seconds: float) -> dict[str, dict[str, Any]]:
    """Throughput, errors and latency percentiles per class and in total."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        groups[record.kind].append(record)
        groups["total"].append(record)
    stats = {}
    for kind in [*MIX, "total"]:
        if kind not in groups:
            continue
        group = groups.get(kind, [])
        latencies = [1000 * (r.end - r.start) for r in group if not r.error]
        errors = Counter(r.error for r in group if r.error)
        stats[kind] = {
            "requests": len(group),
            "per_s": round(len(group) / seconds, 1),
            "errors": sum(errors.values()),
            "errors_by_kind": dict(errors),
            "p50_ms": round(common.percentile(latencies, 50), 2),
            "p95_ms": round(common.percentile(latencies, 95), 2),
            "p99_ms": round(common.percentile(latencies, 99), 2),
            "mean_bytes": round(sum(r.size for r in group) / len(group)) if group else 0,
            "failed_examples": [f"{r.error} {r.url}" for r in group if r.error][:5],
        }
    return stats


def throughput_series(records: list[Record], seconds: float, step: float = 5.0) -> list[float]:
    """Completed requests per second in ``step``-second bins."""
    bins = [0] * max(1, math.ceil(seconds / step))
    for record in records:
        bins[min(len(bins) - 1, int(record.end // step))] += 1
    last = seconds - step * (len(bins) - 1)  # the last bin may be shorter
    if last < step / 2 and len(bins) > 1:  # a sliver at the end says nothing: drop it
        bins.pop()
        last = step
    widths = [step] * (len(bins) - 1) + [last]
    return [round(count / width, 1) for count, width in zip(bins, widths, strict=True)]


def draw(path: Path, samples: dict[str, list[tuple[float, float]]], rates: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (memory, speed) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for name, points in samples.items():
        memory.plot([t for t, _ in points], [mb for _, mb in points], label=name)
    memory.set_ylabel("RSS, process tree (MB)")
    memory.set_ylim(bottom=0)
    memory.legend(loc="lower right")
    memory.grid(alpha=0.3)
    memory.set_title("Soak: summed VmRSS of master + workers, sampled every 2 s")
    speed.plot([5 * i + 2.5 for i in range(len(rates))], rates, color="tab:green")
    speed.set_ylabel("requests/s (5-s bins)")
    speed.set_xlabel("seconds since the load began")
    speed.set_ylim(bottom=0)
    speed.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def log_problems(log: Path) -> dict[str, Any]:
    """Lines in a server log that report an error or a traceback, with a few examples."""
    found: dict[str, Any] = {"tracebacks": 0, "error_lines": 0, "examples": []}
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            traceback = "Traceback (most recent call last)" in line
            error = any(
                mark in line
                for mark in ('"level": "error"', '"level": "critical"', "[ERROR]", "[error]")
            )
            found["tracebacks"] += traceback
            found["error_lines"] += error
            if (traceback or error) and len(found["examples"]) < 5:
                found["examples"].append(line[:500])
    return found


def parse_mix(text: str) -> dict[str, float]:
    """``tile=100`` or ``tile=60,info=10,…``: weights per class (others 0)."""
    mix = {kind: 0.0 for kind in MIX}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if kind.strip() not in MIX:
            raise argparse.ArgumentTypeError(f"unknown class {kind!r}; classes: {', '.join(MIX)}")
        mix[kind.strip()] = float(weight)
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=0, help="0: no limit")
    parser.add_argument("--image-server", choices=["granian", "gunicorn"], default="granian")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--recycle", action="store_true", help="keep max_requests recycling")
    parser.add_argument("--interval", type=float, default=2.0, help="RSS sampling, seconds")
    parser.add_argument(
        "--mix", type=parse_mix, default=None, help="e.g. tile=100 (default: the mix above)"
    )
    parser.add_argument(
        "--arbitrary", type=float, default=0.15, help="share of tiles with arbitrary region/size"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=common.SOAK)
    parser.add_argument("--keep", action="store_true", help="keep the temp instance")
    args = parser.parse_args()
    mix = args.mix or MIX

    work = Path(tempfile.mkdtemp(prefix="tangthu-soak-"))
    instance = work / "instance"
    web_port, image_port = common.free_port(), common.free_port()
    env = common.instance_env(instance, web_port, image_port)
    web = f"http://{common.HOST}:{web_port}"
    try:
        print(f"instance {instance}: loading the sample collection …", flush=True)
        load_s = common.load_sample(env)
        with Servers() as servers:
            repository = common.start_repository(
                servers, env, web_port, args.workers, work / "repository.log", args.recycle
            )
            image = common.start_image_server(
                servers,
                args.image_server,
                env,
                image_port,
                args.workers,
                work / "image.log",
                args.recycle,
            )
            items = common.discover(web)
            plan = Plan(web, items, mix, args.arbitrary)
            names = {"repository (gunicorn)": repository.pid}
            names[f"image server ({args.image_server})"] = image.pid
            initial_workers = {n: common.children(p) for n, p in names.items()}
            print(
                f"servers up; {len(items)} items, {len(plan.images)} open images; "
                f"{args.concurrency} threads for {args.seconds:.0f} s",
                flush=True,
            )
            records: list[Record] = []
            budget = Budget(args.max_requests)
            machine_start, own_start = machine_ticks(), os.times()
            t0 = time.monotonic()
            deadline = t0 + args.seconds
            with MemorySampler(names, t0, args.interval) as sampler:
                threads = [
                    threading.Thread(
                        target=drive,
                        args=(plan, i, args.seed, t0, deadline, budget, records),
                        daemon=True,
                    )
                    for i in range(args.concurrency)
                ]
                for thread in threads:
                    thread.start()
                next_report = t0 + 30
                while any(t.is_alive() for t in threads):
                    time.sleep(0.5)
                    if time.monotonic() >= next_report:
                        next_report += 30
                        done = len(records)
                        bad = sum(1 for r in records[:done] if r.error)
                        rss = ", ".join(f"{s[-1][1]:.0f} MB" for s in sampler.samples.values())
                        print(
                            f"  {time.monotonic() - t0:5.0f} s: {done:,} requests, "
                            f"{bad} errors; RSS {rss}",
                            flush=True,
                        )
                for thread in threads:
                    thread.join()
            elapsed = time.monotonic() - t0
            machine_end, own_end = machine_ticks(), os.times()
            final_workers = {n: common.children(p) for n, p in names.items()}
            masters_alive = {n: common.alive(p) for n, p in names.items()}
        hz = os.sysconf("SC_CLK_TCK")
        total_ticks = max(1, machine_end[1] - machine_start[1])
        busy = machine_end[0] - machine_start[0]
        server_ticks = sum(sampler.ticks.values()) - sum(sampler.first_ticks.values())
        own_ticks = (own_end[0] + own_end[1] - own_start[0] - own_start[1]) * hz
        cpu = {
            "servers_pct": round(100 * server_ticks / total_ticks, 1),
            "load_generator_pct": round(100 * own_ticks / total_ticks, 1),
            "others_pct": round(100 * max(0, busy - server_ticks - own_ticks) / total_ticks, 1),
            "steal_pct": round(100 * (machine_end[2] - machine_start[2]) / total_ticks, 1),
        }
        stats = class_stats(records, elapsed)
        memory = {name: verdict(points, elapsed) for name, points in sampler.samples.items()}
        rates = throughput_series(records, elapsed)
        levels_off = all(v.get("levels_off") for v in memory.values())
        result = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": {
                "cpus": os.cpu_count(),
                "kernel": platform.release(),
                "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
            },
            "settings": {
                "seconds": args.seconds,
                "elapsed": round(elapsed, 1),
                "concurrency": args.concurrency,
                "max_requests": args.max_requests,
                "image_server": args.image_server,
                "workers": args.workers,
                "recycle": args.recycle,
                "mix": mix,
                "arbitrary_tile_share": args.arbitrary,
                "seed": args.seed,
                "load_sample_s": round(load_s, 1),
                "items": len(items),
                "open_images": len(plan.images),
            },
            "classes": stats,
            "memory": memory,
            "levels_off": levels_off,
            "workers": {
                name: {
                    "at_start": initial_workers[name],
                    "at_end": final_workers[name],
                    "ever_seen": sorted(sampler.workers[name]),
                    "master_alive": masters_alive[name],
                }
                for name in names
            },
            "server_logs": {
                "repository": log_problems(work / "repository.log"),
                "image": log_problems(work / "image.log"),
            },
            "cpu": cpu,
            "rss_series": sampler.samples,
            "throughput_series_5s": rates,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        draw(args.out / "rss.png", sampler.samples, rates)
        (args.out / "load-last-run.json").write_text(
            json.dumps(result, indent=2, ensure_ascii=False) + "\n"
        )
        report(result)
        print(f"written {args.out / 'load-last-run.json'} and {args.out / 'rss.png'}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(result: dict[str, Any]) -> None:
    """Markdown tables: classes, then memory and the verdict."""
    print("\n| class | requests | req/s | errors | p50 ms | p95 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, s in result["classes"].items():
        print(
            f"| {kind} | {s['requests']:,} | {s['per_s']:,.1f} | {s['errors']} | "
            f"{s['p50_ms']:.1f} | {s['p95_ms']:.1f} | {s['p99_ms']:.1f} |"
        )
    print(
        "\n| process tree | start MB | end MB | peak MB | middle ⅓ mean | last ⅓ mean "
        "| growth | last-half slope MB/min | levels off |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, m in result["memory"].items():
        print(
            f"| {name} | {m['start_mb']:.0f} | {m['end_mb']:.0f} | {m['peak_mb']:.0f} | "
            f"{m['middle_third_mean_mb']:.0f} | {m['last_third_mean_mb']:.0f} | "
            f"{m['growth_last_vs_middle_pct']:+.1f} % | {m['last_half_slope_mb_per_min']:+.2f} | "
            f"{'yes' if m['levels_off'] else 'no'} |"
        )
    print(f"\nCPU: {result['cpu']}")
    print(f"workers: {json.dumps(result['workers'])}")
    print(f"server logs: {result['server_logs']}")
    print(f"VERDICT: memory {'levels off' if result['levels_off'] else 'does NOT level off'}")


if __name__ == "__main__":
    main()
