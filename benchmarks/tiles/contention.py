"""Tiles while others ask for expensive images: our server's tile rate and p99 alone, then
while 4 clients loop on large renders (rotated PNGs, full-size JPEGs, GIFs).

    .venv/bin/python -m benchmarks.tiles.contention            # about 1 minute
    .venv/bin/python -m benchmarks.tiles.contention --duration 3 --smoke

Each expensive client has its own loopback address (127.0.0.2 … 127.0.0.5), as four
readers would. Target: with the expensive load, at least 80% of the unloaded tile rate,
and no tile answered 503 (or any other non-2xx).
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from . import report, servers, urls, wrk
from .image import WORK, ensure_pyramid
from .procs import HOST, Servers
from .servers import Launch

EXPENSIVE = (
    "full/max/0/default.png",
    "full/^max/45/default.png",
    "full/max/0/default.jpg",
    "full/max/0/default.gif",
    "pct:10,10,80,80/4000,/90/default.webp",
)


class Expensive:
    """Four clients, each from its own address, asking for large renders in a loop."""

    def __init__(self, port: int, prefix: str, clients: int = 4) -> None:
        self.port = port
        self.prefix = prefix
        self.clients = clients
        self.statuses: Counter[int] = Counter()
        self.seconds: list[float] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Expensive:
        for number in range(self.clients):
            thread = threading.Thread(target=self._loop, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _loop(self, number: int) -> None:
        source = (f"127.0.0.{2 + number}", 0)
        request = 0
        while not self._stop.is_set():
            path = f"{self.prefix}/{EXPENSIVE[(number + request) % len(EXPENSIVE)]}"
            request += 1
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection(
                    HOST, self.port, timeout=60, source_address=source
                )
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                status = response.status
                connection.close()
            except OSError:
                status = 0
            with self._lock:
                self.statuses[status] += 1
                self.seconds.append(time.perf_counter() - started)
            if status in (429, 503):
                time.sleep(0.2)  # as a well-behaved client honouring Retry-After would, briefly


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measurement")
    parser.add_argument("--width", type=int, default=12000)
    parser.add_argument("--height", type=int, default=9000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--smoke", action="store_true", help="a small image: check it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.width, args.height = 4200, 3000
    image = ensure_pyramid(args.width, args.height, args.seed)
    tiles = urls.random_tiles(args.width, args.height, 2000, args.seed)
    paths = urls.write_paths(
        WORK / "lists" / "contention.txt", f"/iiif/3/{image.identifier}", [t.iiif3() for t in tiles]
    )
    load = wrk.Load(args.duration, 2, 8)
    with Servers() as pool:
        target = servers.ours("granian", image, Launch(2, 4, 0, None), WORK / "logs")
        pool.start(target.server)
        target.server.wait_ready(servers.ready_url(target))
        wrk.run(target.base, paths, wrk.Load(min(3.0, args.duration), 2, 8))  # warm the OS
        alone = wrk.run(target.base, paths, load)
        port = int(target.base.rsplit(":", 1)[1])
        with Expensive(port, f"/iiif/3/{image.identifier}") as expensive:
            time.sleep(1.0)  # the lanes are busy before tiles are measured
            loaded = wrk.run(target.base, paths, load)
        pool.stop(target.server)
    ratio = loaded.requests_per_s / alone.requests_per_s
    rows = [
        ["tiles alone", round(alone.requests_per_s), alone.latency_ms["99"], alone.non_2xx],
        [
            "tiles + 4 expensive",
            round(loaded.requests_per_s),
            loaded.latency_ms["99"],
            loaded.non_2xx,
        ],
    ]
    table = report.markdown_table(("measure", "tiles/s", "p99 ms", "non-2xx tiles"), rows)
    expensive_seen = dict(sorted(expensive.statuses.items()))
    met = ratio >= 0.8 and loaded.non_2xx == 0
    summary = (
        f"{table}\n\nloaded/alone: {ratio:.2f} (target ≥ 0.80, no non-2xx tile): "
        f"{'met' if met else 'NOT met'}; expensive answers by status: {expensive_seen}"
    )
    data: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": report.machine(),
        "code": report.git_state(),
        "image": [args.width, args.height],
        "alone": alone.to_json(),
        "loaded": loaded.to_json(),
        "ratio": ratio,
        "expensive_statuses": expensive_seen,
        "expensive_seconds": sorted(expensive.seconds),
    }
    json_path, md_path = report.write_results(f"contention-{report.timestamp()}", data, summary)
    print(f"{summary}\n\nwrote {json_path}\n      {md_path}")
    if args.smoke:  # a check that the harness and the answers are right, not a timing
        return 0 if loaded.non_2xx == 0 and alone.non_2xx == 0 and expensive.statuses else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
