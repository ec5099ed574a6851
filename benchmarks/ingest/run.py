"""Ingest speed: our whole ingest against a bare libvips pyramid save, on the same files.

    .venv/bin/python benchmarks/ingest/run.py [--quick] [--repeat N]

The bare save (tiffsave with tile, pyramid and JPEG compression, sequential access)
is the physical limit here: our ingest adds sniffing, header checks, two SHA-256
passes, colour handling and the copy of the master into storage. Each run is a fresh
subprocess, so its peak RSS is its own. Results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyvips

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
TANGTHU = Path(sys.executable).parent / "tangthu"
# Ours: the ingest service as `tangthu ingest` calls it, timed from inside the process
# so that interpreter and app start-up (about 1.5 s, reported apart) do not count.
OURS = """
import json, sys, time
from pathlib import Path
from repository import create_app, get_storage
from repository.cli.content import ensure_collection
from repository.extensions import db
from repository.services.ingest import ItemDraft, ingest_item, pages_in_folder
from repository.web import ingest_settings
app = create_app()
with app.app_context():
    db.create_all()
    ensure_collection("bench")
    draft = ItemDraft("bench", {"vi": "bench"}, pages_in_folder(Path(sys.argv[1])))
    start = time.perf_counter()
    item = ingest_item(draft, get_storage(), ingest_settings()).item
    seconds = time.perf_counter() - start
    page = item.images[0]
    answer = {"seconds": seconds, "pages": len(item.images), "size": [page.width, page.height]}
    print(json.dumps(answer))
"""
BASELINE = (
    "import sys, pyvips; pyvips.Image.new_from_file(sys.argv[1], access='sequential')"
    ".tiffsave(sys.argv[2], tile=True, pyramid=True, compression='jpeg', Q=85,"
    " tile_width=256, tile_height=256, bigtiff=True)"
)


@dataclass(frozen=True)
class Run:
    name: str
    seconds: float
    peak_rss_mb: float
    startup_seconds: float = 0.0


def make_source(kind: str, width: int, height: int, folder: Path) -> Path:
    """A textured test image (noise plus gradients), so JPEG work is realistic."""
    noise = pyvips.Image.gaussnoise(width // 4, height // 4, sigma=40, mean=128).resize(4)
    ramp = pyvips.Image.xyz(width, height)[0] * (255 / width)
    image = (noise.bandjoin([ramp, noise.rot180() if width == height else ramp])).cast("uchar")
    image = image.copy(interpretation="srgb")
    path = folder / f"source-{width}x{height}.{kind}"
    if kind == "jpg":
        image.jpegsave(str(path), Q=90)
    else:
        image.tiffsave(str(path), compression="lzw", tile=True, bigtiff=True)
    return path


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB, from the child's own rusage) and standard output."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    output, errors = process.stdout.read(), process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = status
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{command[:3]} failed: {errors.decode()[-500:]}")
    return seconds, usage.ru_maxrss / 1024, output.decode()


def bench(source: Path, work: Path, repeat: int) -> list[Run]:
    runs = []
    for attempt in range(repeat):
        target = work / f"baseline-{attempt}.tif"
        seconds, rss, _ = timed([sys.executable, "-c", BASELINE, str(source), str(target)])
        runs.append(Run("libvips tiffsave", seconds, rss))
        target.unlink()
        instance = work / f"instance-{attempt}"
        folder = work / f"item-{attempt}"
        folder.mkdir()
        os.link(source, folder / source.name)
        env = {
            **os.environ,
            "TANGTHU_INSTANCE_PATH": str(instance),  # its secret key is made there
            "TANGTHU_MAX_IMAGE_PIXELS": "400000000",
        }
        wall, rss, output = timed([sys.executable, "-c", OURS, str(folder)], env)
        answer = json.loads(output)
        expected = pyvips.Image.new_from_file(str(source))
        if answer["pages"] != 1 or answer["size"] != [expected.width, expected.height]:
            raise RuntimeError(f"ingest answered {answer}, not one page the size of {source.name}")
        seconds = answer["seconds"]
        runs.append(Run("tangthu ingest", seconds, rss, round(wall - seconds, 2)))
        shutil.rmtree(instance)
        shutil.rmtree(folder)
    return runs


def summarise(label: str, runs: list[Run]) -> dict[str, object]:
    best = {name: min(r.seconds for r in runs if r.name == name) for name in {r.name for r in runs}}
    peak = {name: max(r.peak_rss_mb for r in runs if r.name == name) for name in best}
    ratio = best["tangthu ingest"] / best["libvips tiffsave"]
    return {
        "source": label,
        "best_seconds": best,
        "peak_rss_mb": peak,
        "ratio_ours_to_vips": round(ratio, 3),
        "runs": [asdict(r) for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 MP and 30 MP instead")
    parser.add_argument("--smoke", action="store_true", help="tiny files: check that it runs")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    scale = 0.05 if args.smoke else 0.316 if args.quick else 1.0
    sizes = [
        ("jpg", int(12_000 * scale), int(8_400 * scale)),  # ≈100 MP JPEG
        ("tif", int(20_000 * scale), int(15_000 * scale)),
    ]  # ≈300 MP TIFF
    report = []
    with tempfile.TemporaryDirectory(prefix="tangthu-ingest-bench-") as tmp:
        work = Path(tmp)
        for kind, width, height in sizes:
            source = make_source(kind, width, height, work)
            label = f"{width}x{height} {kind.upper()} ({width * height / 1e6:.0f} MP)"
            summary = summarise(label, bench(source, work, args.repeat))
            report.append(summary)
            print(
                f"{label}: ours {summary['best_seconds']['tangthu ingest']:.1f} s, "
                f"vips {summary['best_seconds']['libvips tiffsave']:.1f} s, "
                f"ratio {summary['ratio_ours_to_vips']}x, peak RSS "
                f"{summary['peak_rss_mb']['tangthu ingest']:.0f} MB vs "
                f"{summary['peak_rss_mb']['libvips tiffsave']:.0f} MB",
                flush=True,
            )
            source.unlink()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
