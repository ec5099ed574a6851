"""The benchmark image: synthetic texture, built into a pyramid by our own builder."""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pyvips

from image_server import edges, pyramids
from image_server.policy import Access, Policy
from image_server.pyramids import build_pyramid

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "benchmarks" / "results" / "work"


@dataclass(frozen=True, slots=True)
class TestImage:
    """One pyramidal TIFF that both servers read."""

    identifier: str
    storage: Path  # our TANGTHU_STORAGE_URL root; the TIFF is in storage/pyramids/
    width: int
    height: int
    build_seconds: float  # 0 when an earlier run's pyramid was reused

    @property
    def path(self) -> Path:
        """The pyramid file itself."""
        return self.storage / "pyramids" / f"{self.identifier}.tif"

    @property
    def megapixels(self) -> float:
        """Full-resolution size in megapixels."""
        return self.width * self.height / 1e6


def synthetic(width: int, height: int, seed: int) -> pyvips.Image:
    """Colour Perlin noise at three scales plus fine grain, so JPEG tiles look like a scan's."""
    bands = [
        pyvips.Image.perlin(width, height, cell_size=cell, uchar=True, seed=seed + n)
        for n, cell in enumerate((640, 180, 40))
    ]
    grain = pyvips.Image.gaussnoise(width, height, sigma=10, mean=0, seed=seed + 7)
    colour = bands[0].bandjoin(bands[1:])
    return (colour + grain).cast("uchar").copy(interpretation="srgb")


def builder_version() -> str:
    """A short hash of our pyramid builder's source and libvips: a change means a rebuild."""
    source = (inspect.getsource(pyramids) + inspect.getsource(edges)).encode()
    vips = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}".encode()
    return hashlib.blake2s(source + vips, digest_size=4).hexdigest()


def ensure_pyramid(width: int, height: int, seed: int, rebuild: bool = False) -> TestImage:
    """Build (or reuse) the pyramid for a synthetic image of this size, seed and builder."""
    stem = f"bench_{width}x{height}_s{seed}"
    storage = WORK / "storage"
    image = TestImage(f"{stem}_{builder_version()}", storage, width, height, 0.0)
    open_to_all(image)
    if image.path.exists() and not rebuild:
        return image
    image.path.parent.mkdir(parents=True, exist_ok=True)
    for stale in image.path.parent.glob(f"{stem}_*.tif"):
        stale.unlink()
    source = WORK / f"{image.identifier}.source.v"
    synthetic(width, height, seed).vipssave(str(source))
    partial = image.path.with_suffix(".partial.tif")
    started = time.perf_counter()
    try:
        built = build_pyramid(source, partial)
    finally:
        source.unlink(missing_ok=True)
    partial.replace(image.path)
    if built != (width, height):
        raise RuntimeError(f"pyramid is {built}, expected {(width, height)}")
    return TestImage(image.identifier, storage, width, height, time.perf_counter() - started)


def open_to_all(image: TestImage) -> None:
    """The sidecar publishing writes for an open image: without one the server answers 404."""
    policy = Policy(item="bench", level="open", public=Access.FULL)
    folder = image.storage / "policies"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{image.identifier}.json").write_text(json.dumps(policy.to_json()))


def describe(image: TestImage) -> dict[str, object]:
    """A JSON-ready description of the pyramid's file and levels."""
    first = pyvips.Image.new_from_file(str(image.path))
    pages = first.get("n-pages") if first.get_typeof("n-pages") else 1
    levels = [
        [level.width, level.height]
        for level in (pyvips.Image.new_from_file(str(image.path), page=p) for p in range(pages))
    ]
    return {
        "identifier": image.identifier,
        "path": str(image.path.relative_to(ROOT)),
        "width": image.width,
        "height": image.height,
        "megapixels": round(image.megapixels, 1),
        "file_mb": round(image.path.stat().st_size / 2**20, 1),
        "levels": levels,
        "tile_size": int(first.get("tile-width")),
        "build_seconds": round(image.build_seconds, 1),
        "builder": builder_version(),
    }
