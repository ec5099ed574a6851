"""Usage recording on the image server: tile throughput with recording on and off.

    .venv/bin/python -m benchmarks.usage.tiles [--rounds 4] [--duration 10]
    .venv/bin/python -m benchmarks.usage.tiles --smoke        # in make test

Two image servers as deployed (granian, 2 workers of 4 threads, tile cache on) serve the
same pyramids; one has the repository's address and the shared key, so it records and
posts COUNTER requests (image_server.usage), the other has no key and records nothing.
wrk -t2 -c8 asks each for seeded tiles of a 12000×9000 pyramid with, one request in 25, the
whole of a small image at full size (a COUNTER request of its item: recorded and posted).
The posts go to a receiver in this process that checks each batch's signature and counts
its events, so the run proves that the "on" server recorded. Rounds alternate and swap
their order; the figure is the sum of requests. Target: on/off at least 0.95.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.tiles import report, servers, urls, wrk
from benchmarks.tiles.image import WORK, ensure_pyramid
from benchmarks.tiles.procs import HOST, Servers, free_port
from benchmarks.tiles.servers import Launch
from image_server import usage
from image_server.tokens import Keys

RESULTS = Path(__file__).resolve().parents[1] / "results"
KEYS = {"bench": secrets.token_urlsafe(48)}  # a new shared key each run
FULL_EVERY = 25  # one request in this many is a whole small image at full size


class Receiver:
    """The repository's end of the contract, as far as this benchmark needs: it checks each
    batch's signature and counts its events (the repository's counting is measured by
    ``benchmarks.usage.run``)."""

    def __init__(self) -> None:
        self.events = 0
        self.refused = 0
        self.lock = threading.Lock()

    @contextmanager
    def serving(self) -> Iterator[str]:
        keys = Keys.parse(json.dumps(KEYS))
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (the http.server spelling)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                good = self.path == usage.PATH and usage.verified(
                    keys, self.headers.get(usage.HEADER, ""), body
                )
                with receiver.lock:
                    if good:
                        receiver.events += len(usage.decode(body))
                    else:
                        receiver.refused += 1
                self.send_response(204 if good else 403)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((HOST, free_port()), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://{HOST}:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def request_list(width: int, height: int, seed: int) -> tuple[Path, int]:
    """Tiles of the large pyramid with a full-size small image every ``FULL_EVERY``th."""
    large = ensure_pyramid(width, height, seed)
    small = ensure_pyramid(1200, 900, seed + 1)
    tiles = urls.random_tiles(width, height, 2000, seed)
    lines = []
    for number, tile in enumerate(tiles):
        if number % FULL_EVERY == 0:
            lines.append(f"/iiif/3/{small.identifier}/full/max/0/default.jpg")
        else:
            lines.append(f"/iiif/3/{large.identifier}/{tile.iiif3()}")
    path = WORK / "lists" / "usage-tiles.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path, sum(1 for line in lines if "/full/max/" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--smoke", action="store_true", help="a small image, 2 rounds of 2 s")
    args = parser.parse_args()
    width, height = (4200, 3000) if args.smoke else (12000, 9000)
    if args.smoke:
        args.rounds, args.duration = 2, 2.0
    paths, full = request_list(width, height, args.seed)
    image = ensure_pyramid(width, height, args.seed)
    receiver = Receiver()
    rates: dict[bool, list[float]] = {True: [], False: []}
    failures: list[str] = []
    with receiver.serving() as repository, Servers() as pool:
        targets = {}
        for recording in (True, False):
            launch = Launch(2, 4, 256, None)
            target = servers.ours("granian", image, launch, WORK / "logs")
            if recording:  # the deployed pair: the repository's address and the shared key
                target.server.env.update(
                    TANGTHU_PUBLIC_URL=repository,
                    TANGTHU_ACCESS_TOKEN_KEYS=json.dumps(KEYS),
                )
            else:
                target.server.env.pop("TANGTHU_ACCESS_TOKEN_KEYS", None)
            pool.start(target.server)
            target.server.wait_ready(servers.ready_url(target))
            wrk.run(target.base, paths, wrk.Load(min(3.0, args.duration), 2, 8))  # warm up
            targets[recording] = target
        load = wrk.Load(args.duration, 2, 8)
        for round_number in range(args.rounds):
            order = (True, False) if round_number % 2 == 0 else (False, True)
            for recording in order:
                result = wrk.run(targets[recording].base, paths, load)
                if result.non_2xx or any(result.socket_errors.values()):
                    failures.append(f"{result.non_2xx} non-2xx, {result.socket_errors}")
                rates[recording].append(result.requests_per_s)
        time.sleep(6)  # the senders' last batches (every 5 s)
    if failures:
        raise SystemExit(f"answers that were not 2xx: {failures}")
    on, off = sum(rates[True]), sum(rates[False])
    ratio = on / off
    print(
        f"tiles (1 in {FULL_EVERY} a full-size request), recording off: "
        f"{off / args.rounds:,.0f} req/s (rounds {[round(r) for r in rates[False]]})"
    )
    print(f"recording on: {on / args.rounds:,.0f} req/s (rounds {[round(r) for r in rates[True]]})")
    print(
        f"on / off = {ratio:.3f} (target at least 0.95); medians "
        f"{statistics.median(rates[True]) / statistics.median(rates[False]):.3f}; "
        f"COUNTER requests received from the 'on' server: {receiver.events:,}"
        f" (refused batches: {receiver.refused})"
    )
    if not receiver.events or receiver.refused:
        raise SystemExit("the recording server's requests did not all arrive")
    if args.smoke:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"usage-tiles-{time.strftime('%Y%m%d-%H%M%S')}.json"
    body = {
        "machine": report.machine(),
        "code": report.git_state(),
        "image": [width, height],
        "full_size_every": FULL_EVERY,
        "full_size_in_list": full,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "on": rates[True],
        "off": rates[False],
        "ratio": ratio,
        "received": receiver.events,
    }
    out.write_text(json.dumps(body, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
