"""Usage recording: item-page throughput with COUNTER recording on and off, side by side.

    .venv/bin/python -m benchmarks.usage.run [--items 50] [--rounds 5] [--duration 10]

Two gunicorn servers (as deployed: 2 workers, gthread) serve the same instance, one with
TANGTHU_USAGE_RECORDING=true and one with false. wrk -t2 -c8 asks each for item pages of
many items with many user agents (so recording is not all double clicks), in alternating
rounds whose order swaps each time; the figure is the sum of requests over the rounds.
Target: with recording, within 5% of the throughput without.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.manifests.run import free_port

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = ROOT / "benchmarks" / "results"


def make_items(instance: Path, count: int) -> list[str]:
    """Published items of three pages each (rows and manifests; no pixels are read)."""
    os.environ["TANGTHU_INSTANCE_PATH"] = str(instance)
    from repository import create_app, get_storage
    from repository.extensions import db
    from repository.models import Collection, Image, Item
    from repository.services.publish import publish_item
    from repository.web import publish_settings

    app = create_app({"PUBLIC_URL": "http://127.0.0.1:8000"})
    with app.test_request_context():
        db.create_all()
        collection = Collection(slug="bench", title={"vi": "Đo"})
        ids = []
        for number in range(count):
            item = Item(collection=collection, title={"vi": f"Sách {number}"}, status="draft")
            item.images = [
                Image(
                    position=n,
                    media_type="image/jpeg",
                    width=2400,
                    height=3600,
                    byte_size=1,
                    sha256="0" * 64,
                    derivative_sha256="0" * 64,
                    master_key="m",
                    pyramid_key=f"pyramids/{number}-{n}.tif",
                )
                for n in range(1, 4)
            ]
            db.session.add(item)
            db.session.commit()
            publish_item(item, get_storage(), publish_settings())
            ids.append(item.id)
        return ids


def serve(instance: Path, port: int, recording: bool, log: Path) -> subprocess.Popen[bytes]:
    """The repository as deployed (JSON access logs, to a file, as a service would keep)."""
    env = {
        **os.environ,
        "TANGTHU_INSTANCE_PATH": str(instance),
        "TANGTHU_USAGE_RECORDING": "true" if recording else "false",
        "TANGTHU_USAGE_FLUSH_SECONDS": "1",
    }
    command = [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT), "-b", f"127.0.0.1:{port}"]
    command += ["-w", "2", "-k", "gthread", "--threads", "4", "--no-control-socket"]
    command += ["--log-level", "warning", "wsgi:repository_app()"]
    with log.open("ab") as stream:
        return subprocess.Popen(command, env=env, stdout=stream, stderr=stream)


def wait(url: str, log: Path, seconds: float = 90.0) -> None:
    """Until the server answers (a loaded machine starts slowly), or stop with its log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.25)
    raise SystemExit(f"{url} did not come up:\n{log.read_text()[-3000:]}")


def measure(base: str, ids: list[str], duration: int) -> dict[str, float]:
    """wrk -t2 -c8 through the item pages (cycle.lua): requests/s and non-2xx answers."""
    output = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{duration}s", "-s", str(HERE / "cycle.lua"), base],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ITEMS": ",".join(ids)},
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if rate is None:
        raise SystemExit(f"wrk said: {output}")
    return {
        "requests_per_s": float(rate.group(1)),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="usage recording on/off benchmark")
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="5 items, 2 rounds of 2 s")
    args = parser.parse_args()
    if args.smoke:
        args.items, args.rounds, args.duration = 5, 2, 2
    work = Path(tempfile.mkdtemp(prefix="tangthu-usage-bench-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        instance = work / "instance"
        ids = make_items(instance, args.items)
        ports = {True: free_port(), False: free_port()}
        for recording, port in ports.items():
            log = work / f"server-{'on' if recording else 'off'}.log"
            processes.append(serve(instance, port, recording, log))
        for recording, port in ports.items():
            log = work / f"server-{'on' if recording else 'off'}.log"
            wait(f"http://127.0.0.1:{port}/items/{ids[0]}", log)
        rates: dict[bool, list[float]] = {True: [], False: []}
        sizes: list[float] = []  # the write-ahead log after each measurement, MB
        for round_number in range(args.rounds):
            order = (True, False) if round_number % 2 == 0 else (False, True)
            for recording in order:
                figures = measure(f"http://127.0.0.1:{ports[recording]}", ids, args.duration)
                if figures["non_2xx"]:
                    raise SystemExit(f"{figures['non_2xx']} answers were not 2xx")
                rates[recording].append(figures["requests_per_s"])
                wal = instance / "tangthu.sqlite-wal"
                sizes.append(round(wal.stat().st_size / 2**20, 1) if wal.exists() else 0.0)
        time.sleep(2)  # the recording server's last batch
        with sqlite3.connect(instance / "tangthu.sqlite") as database:
            (stored,) = database.execute(
                "SELECT coalesce(sum(hits), 0) FROM usage_count"
            ).fetchone()
        on, off = sum(rates[True]) / args.rounds, sum(rates[False]) / args.rounds
        ratio = on / off
        print(f"item pages, recording off: {off:,.0f} req/s (rounds {rates[False]})")
        print(f"item pages, recording on:  {on:,.0f} req/s (rounds {rates[True]})")
        print(f"on / off = {ratio:.3f} (target at least 0.95); investigations stored: {stored:,}")
        print(f"write-ahead log after each measurement: {sizes} MB")
        if not stored:
            raise SystemExit("the recording server stored no usage")
        if args.smoke:
            return  # a check that it runs, not a figure to keep
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"usage-{time.strftime('%Y%m%d-%H%M%S')}.json"
        body = {"items": args.items, "rounds": args.rounds, "duration_s": args.duration}
        body |= {"on": rates[True], "off": rates[False], "ratio": ratio, "stored": stored}
        body |= {"wal_mb": sizes}
        out.write_text(json.dumps(body, indent=2))
        print(f"written {out}")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
