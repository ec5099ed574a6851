"""Queue throughput: a batch of pages ingested by `tangthu worker` with 1 and 2 workers.

    .venv/bin/python -m benchmarks.queue.run [--pages 200] [--per-item 10] [--smoke]
        [--queue-url redis://127.0.0.1:6379/0] [--output FILE]

The pages are split into items (one ingest job each) and put on the job queue of a fresh
instance; a worker process is started first, then the clock runs from the jobs being
queued until the last is done. The target: 2 workers take at most 0.6 of the time of 1.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyvips

ROOT = Path(__file__).resolve().parents[2]
TARGET = 0.6


def make_pages(folder: Path, pages: int, per_item: int, width: int, height: int) -> list[Path]:
    """Distinct noisy scans (JPEG), per_item to a folder."""
    folders = []
    for start in range(0, pages, per_item):
        item = folder / f"item-{start // per_item:04d}"
        item.mkdir()
        for number in range(start, min(start + per_item, pages)):
            noise = pyvips.Image.gaussnoise(width, height, mean=128, sigma=40)
            page = noise.cast("uchar").bandjoin([noise.cast("uchar"), noise.cast("uchar")])
            page.jpegsave(str(item / f"{number + 1:04d}.jpg"), Q=90)
        folders.append(item)
    return folders


def ready(worker: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while "consumer started" not in log.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    time.sleep(0.5)  # its worker processes or threads are up


def measure(folders: list[Path], workers: int, queue_url: str, scratch: Path) -> float:
    """Seconds from queueing every item until a worker of ``workers`` has ingested all."""
    instance = scratch / f"instance-{workers}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANGTHU_")}
    env.update(
        TANGTHU_INSTANCE_PATH=str(instance),
        TANGTHU_SECRET_KEY=secrets.token_urlsafe(48),
        TANGTHU_QUEUE_URL=queue_url,
    )
    if queue_url.startswith("redis"):
        import redis

        redis.Redis.from_url(queue_url).flushdb()
    os.environ.update(env)
    from repository import create_app
    from repository.cli.content import ensure_collection
    from repository.extensions import db
    from repository.jobs import submit
    from repository.models import Job
    from repository.services.page_files import natural_order, pages_in_folder

    app = create_app({"QUEUE_EMBEDDED_WORKER": False})
    with app.app_context():
        db.create_all()
        ensure_collection("bench")
    log = open(scratch / f"worker-{workers}.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "repository.cli", "worker", "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        ready(worker, Path(log.name))  # the worker's start-up is not ingest time
        with app.app_context():
            start = time.perf_counter()
            for folder in folders:
                pages = natural_order(pages_in_folder(folder))
                submit(
                    "ingest",
                    {
                        "collection": "bench",
                        "title": {"vi": folder.name},
                        "pages": [[str(p.path), p.name] for p in pages],
                    },
                )
            while True:
                db.session.expire_all()
                states = db.session.execute(db.select(Job.status)).scalars().all()
                if all(state in ("done", "failed") for state in states):
                    break
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker stopped; see {log.name}")
                time.sleep(0.05)
            seconds = time.perf_counter() - start
            failed = [s for s in states if s == "failed"]
            if failed:
                raise RuntimeError(f"{len(failed)} jobs failed; see {log.name}")
        return seconds
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--per-item", type=int, default=10)
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--height", type=int, default=1500)
    parser.add_argument("--queue-url", default="", help="empty: SQLite in the instance")
    parser.add_argument("--smoke", action="store_true", help="a few small pages: it runs")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.smoke:
        args.pages, args.per_item, args.width, args.height = 4, 2, 400, 300
    with tempfile.TemporaryDirectory(prefix="tangthu-queue-bench-") as folder:
        scratch = Path(folder)
        (scratch / "pages").mkdir()
        folders = make_pages(scratch / "pages", args.pages, args.per_item, args.width, args.height)
        one = measure(folders, 1, args.queue_url, scratch)
        two = measure(folders, 2, args.queue_url, scratch)
    ratio = two / one
    engine = "Redis" if args.queue_url.startswith("redis") else "SQLite"
    result = {
        "pages": args.pages,
        "items": len(folders),
        "size": [args.width, args.height],
        "queue": engine,
        "cores": os.cpu_count(),
        "one_worker_s": round(one, 2),
        "two_workers_s": round(two, 2),
        "ratio": round(ratio, 3),
        "target": TARGET,
    }
    print(
        f"{args.pages} pages in {len(folders)} items, {args.width}x{args.height}, {engine} queue:"
        f" 1 worker {one:.1f} s ({args.pages / one:.1f} pages/s),"
        f" 2 workers {two:.1f} s ({args.pages / two:.1f} pages/s);"
        f" ratio {ratio:.2f} (target <= {TARGET})"
    )
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
