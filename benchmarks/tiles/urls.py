"""Seeded request lists: grid tiles for throughput, mixed large renders for memory."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

TILE = 256
SCALE_FACTORS = (1, 2, 4, 8)


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile of the grid that info.json advertises."""

    scale: int
    x: int
    y: int
    w: int
    h: int

    @property
    def out_w(self) -> int:
        """Output width: the region shrunk by the scale factor, rounded up as viewers do."""
        return math.ceil(self.w / self.scale)

    @property
    def out_h(self) -> int:
        """Output height, rounded up like the width."""
        return math.ceil(self.h / self.scale)

    @property
    def edge(self) -> bool:
        """Whether the image edge clips this tile."""
        return self.out_w < TILE or self.out_h < TILE

    def iiif3(self) -> str:
        """``region/size/rotation/quality.format`` in IIIF Image API 3.0 (``w,h`` sizes)."""
        return f"{self.x},{self.y},{self.w},{self.h}/{self.out_w},{self.out_h}/0/default.jpg"

    def iiif2(self) -> str:
        """The same tile in IIIF Image API 2.1 as 2.x viewers ask for it (``w,`` sizes)."""
        return f"{self.x},{self.y},{self.w},{self.h}/{self.out_w},/0/default.jpg"


def tile_at(width: int, height: int, scale: int, column: int, row: int) -> Tile:
    """The tile in ``column``, ``row`` of the grid at ``scale``, clipped at the image edge."""
    span = TILE * scale
    x, y = column * span, row * span
    return Tile(scale, x, y, min(span, width - x), min(span, height - y))


def random_tiles(width: int, height: int, count: int, seed: int) -> list[Tile]:
    """``count`` tiles: a scale factor drawn evenly from 1, 2, 4, 8, then a uniform grid cell."""
    rng = random.Random(seed)
    tiles = []
    for _ in range(count):
        scale = rng.choice(SCALE_FACTORS)
        columns = math.ceil(width / (TILE * scale))
        rows = math.ceil(height / (TILE * scale))
        tiles.append(tile_at(width, height, scale, rng.randrange(columns), rng.randrange(rows)))
    return tiles


def mixed_renders(count: int, seed: int) -> list[str]:
    """Large non-tile requests a viewer, a download button or a thumbnailer makes."""
    rng = random.Random(seed)
    fixed = ["full/max/0/default.jpg", "full/!2000,2000/0/default.jpg"]
    suffixes = []
    for n in range(count):
        if n % 4 < 2:
            suffixes.append(fixed[n % 4])
            continue
        w, h = rng.randint(10, 50), rng.randint(10, 50)
        x, y = rng.randint(0, 100 - w), rng.randint(0, 100 - h)
        size = "max" if n % 4 == 2 else "!1500,1500"
        suffixes.append(f"pct:{x},{y},{w},{h}/{size}/0/default.jpg")
    return suffixes


def write_paths(path: Path, prefix: str, suffixes: list[str]) -> Path:
    """Write one request path per line for cycle.lua."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{prefix}/{suffix}\n" for suffix in suffixes))
    return path


def mix(tiles: list[Tile]) -> dict[str, int]:
    """How many tiles of each scale factor, and how many edge tiles, the list holds."""
    counts = {f"scale_{s}": sum(t.scale == s for t in tiles) for s in SCALE_FACTORS}
    counts["edge"] = sum(t.edge for t in tiles)
    counts["distinct"] = len(set(tiles))
    return counts
