"""The Han font readers get: BabelStone Han cut into WOFF2 chunks, one per unicode-range.

BabelStone Han (Debian's fonts-babelstone-han) draws the CJK Extensions B-H where chữ
Nôm lives, but it weighs 51 MB. As web-font services do, it is cut into chunks of at
most 256 code points, each declared with its exact ``unicode-range`` in ``han.css``, so
a browser fetches only the chunks holding characters a page shows and its own fonts
lack. ``make`` builds them (``python -m repository.han_font``) into a git-ignored
folder, from the font the system package installed: 20 MB of derived binaries stay out
of git, and the chunks always match the installed font and its licence.

Licence: the Arphic Public License (with CC BY-SA 3.0/4.0 for a few symbols) lets us
change and redistribute the font if every changed file says how and when it was
changed, and the licence goes with it. Each chunk's name table says so (IDs 0 and 10),
and the licence text is copied beside the chunks as ``LICENSE.txt``, served with them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

SOURCE = Path("/usr/share/fonts/truetype/babelstone/BabelStoneHan.ttf")
LICENCE = Path("/usr/share/doc/fonts-babelstone-han/copyright")
FOLDER = Path(__file__).resolve().parent / "static" / "fonts" / "han"
STYLESHEET = "han.css"
FAMILY = "Tang Thu Han"
CHUNK = 256  # code points a chunk may cover: 20-150 KB of WOFF2 each
# Where Han characters live: radicals, CJK symbols and punctuation, strokes, enclosed and
# compatibility forms, Extension A, the URO, compatibility ideographs, vertical and
# fullwidth forms, then planes 2 and 3 (Extensions B-H and the supplements).
HAN_BLOCKS = (
    (0x2E80, 0x2FDF),
    (0x2FF0, 0x303F),
    (0x31C0, 0x31EF),
    (0x3200, 0x33FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFE10, 0xFE1F),
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF),
    (0x20000, 0x3FFFF),
)


def han_code_points(cmap: Iterable[int]) -> list[int]:
    """The code points of the font that fall in the Han blocks, in order."""
    return sorted(cp for cp in cmap if any(lo <= cp <= hi for lo, hi in HAN_BLOCKS))


def chunks(code_points: list[int]) -> list[list[int]]:
    """Code points grouped by their aligned block of CHUNK (U+4E00-4EFF, U+21A00-21AFF…)."""
    grouped: dict[int, list[int]] = {}
    for cp in code_points:
        grouped.setdefault(cp // CHUNK, []).append(cp)
    return [grouped[key] for key in sorted(grouped)]


def unicode_range(code_points: list[int]) -> str:
    """CSS unicode-range for sorted code points: "U+4E00-4E05, U+4E07"."""
    parts: list[str] = []
    start = previous = code_points[0]
    for cp in [*code_points[1:], -1]:
        if cp == previous + 1:
            previous = cp
            continue
        parts.append(f"U+{start:X}" if start == previous else f"U+{start:X}-{previous:X}")
        start = previous = cp
    return ", ".join(parts)


def _notice(code_points: list[int], day: str) -> str:
    first, last = code_points[0], code_points[-1]
    return (
        f"Modified on {day} by Tang Thu's repository/han_font.py: a subset of BabelStone Han "
        f"holding only U+{first:04X}-{last:04X} ({len(code_points)} characters), converted "
        "to WOFF2. Arphic Public License; see LICENSE.txt beside this file."
    )


def build_chunk(source: str, code_points: list[int], day: str) -> bytes:
    """One chunk as WOFF2 bytes, its name table saying how and when it was made."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]  # vertical forms (vert, vrt2) for vertical columns
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.drop_tables += ["meta", "DSIG"]  # nothing a browser reads, and unsubsettable
    options.hinting = False  # browsers draw CJK unhinted anyway: a third smaller, faster
    font = TTFont(source, lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=code_points)
    subsetter.subset(font)
    notice = _notice(code_points, day)
    names = font["name"]
    copyright_ = names.getDebugName(0) or ""
    names.setName(f"{copyright_} {notice}".strip(), 0, 3, 1, 0x409)
    names.setName(notice, 10, 3, 1, 0x409)
    font.flavor = "woff2"
    with tempfile.TemporaryFile() as out:
        font.save(out)
        out.seek(0)
        return out.read()


def _build(args: tuple[str, list[int], str]) -> tuple[list[int], bytes]:
    source, code_points, day = args
    return code_points, build_chunk(source, code_points, day)


def font_faces(files: Iterable[tuple[str, list[int]]]) -> Iterator[str]:
    for name, code_points in files:
        yield (
            f'@font-face {{ font-family: "{FAMILY}"; font-style: normal; font-weight: 400; '
            f'font-display: swap; src: url("{name}") format("woff2"); '
            f"unicode-range: {unicode_range(code_points)}; }}"
        )


def put_in_place(staging: Path, folder: Path) -> None:
    """The finished staging folder replaces ``folder`` whole: a page never sees half."""
    os.chmod(staging, 0o755)
    old = folder.with_name(f".{folder.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def build(source: Path = SOURCE, folder: Path = FOLDER, workers: int = 2) -> int:
    """Write every chunk, LICENSE.txt, then han.css (last: it marks a finished build).

    The new folder replaces the old one whole, so a page never sees half a build.
    Returns how many chunks were written."""
    from fontTools.ttLib import TTFont

    cmap = TTFont(str(source), lazy=True).getBestCmap()
    groups = chunks(han_code_points(cmap))
    day = datetime.now(UTC).date().isoformat()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".han-", dir=folder.parent))
    try:
        written: list[tuple[str, list[int]]] = []
        jobs = [(str(source), group, day) for group in groups]
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            for code_points, woff2 in pool.map(_build, jobs):
                digest = hashlib.sha256(woff2).hexdigest()[:10]
                name = f"han-{code_points[0] // CHUNK * CHUNK:05x}-{digest}.woff2"
                (staging / name).write_bytes(woff2)
                written.append((name, code_points))
        if LICENCE.is_file():
            shutil.copyfile(LICENCE, staging / "LICENSE.txt")
        header = (
            f"/* {FAMILY}: BabelStone Han (Arphic Public License, see LICENSE.txt), cut into "
            f"{len(written)} unicode-range chunks on {day} by repository/han_font.py. */"
        )
        css = "\n".join([header, *font_faces(written)]) + "\n"
        (staging / STYLESHEET).write_text(css, encoding="utf-8")
        put_in_place(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(written)


# Changes whenever the chunks this module makes would change (so a cached build is not reused).
RECIPE = f"chunk{CHUNK}-woff2-unhinted-v1"


def cache_key(source: Path) -> str:
    """The installed font's checksum and this module's recipe: what a build depends on."""
    digest = hashlib.sha256()
    with open(source, "rb") as font:
        for block in iter(lambda: font.read(1 << 20), b""):
            digest.update(block)
    return f"{digest.hexdigest()[:16]}-{RECIPE}"


def from_cache(source: Path, folder: Path, cache: Path, workers: int) -> tuple[int, bool]:
    """Build into ``cache`` once per font and recipe (minutes: 393 chunks), then copy the
    finished folder into place (a second); (chunks, whether the cache had them)."""
    kept = cache / cache_key(source)
    hit = (kept / STYLESHEET).is_file()
    if not hit:
        build(source, kept, workers)
    staging = Path(tempfile.mkdtemp(prefix=".han-", dir=folder.parent))
    try:
        shutil.copytree(kept, staging, dirs_exist_ok=True)
        put_in_place(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sum(1 for _ in folder.glob("*.woff2")), hit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cut BabelStone Han into WOFF2 chunks.")
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=FOLDER)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep builds here, by font checksum, and reuse them (as pip keeps wheels)",
    )
    options = parser.parse_args(argv)
    if not options.source.is_file():
        print(f"Error: {options.source} is missing; install fonts-babelstone-han.", file=sys.stderr)
        return 1
    options.out.parent.mkdir(parents=True, exist_ok=True)
    if options.cache is not None:
        count, hit = from_cache(options.source, options.out, options.cache, options.workers)
        print(f"{count} chunks of {FAMILY} in {options.out} ({'cached' if hit else 'built'})")
        return 0
    count = build(options.source, options.out, options.workers)
    print(f"{count} chunks of {FAMILY} in {options.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
