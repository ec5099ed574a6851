"""Text recognition: Tesseract reads each page, and the words keep their boxes.

A page is read from its access derivative, scaled so its long edge is at most
``OcrSettings.max_edge`` (Tesseract reads print best at roughly 300 dpi, and a 100 MP
scan would only be slow). Tesseract writes ALTO; the boxes are scaled back to the
page's full size, so the stored ALTO, the words and every Content Search hit are in
canvas coordinates.

Hán printed in vertical columns (the ``chi_tra_vert`` pack) is read as one block of
vertical text (``--psm 5``). Each TextLine is then a column, taller than wide, and the
columns are put in reading order, right to left, their characters top to bottom.
Tesseract's boxes for single characters in a column drift by up to a character, so each
character's box is cut from its column instead: the column is divided evenly among its
characters, and each cut moves to the emptiest row of ink near it.

The ``page_text`` table is the queue: pages wait there as 'queued' and any process
(a `tangthu worker` running the queue's OCR job, or `tangthu ocr`) may claim one.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyvips
from sqlalchemy import update

from ..extensions import db
from ..models import Image, Item, PageText, utcnow
from ..storage import Storage
from .content_search import join_words
from .errors import ServiceError, Unavailable

log = logging.getLogger(__name__)

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v3#"
LANGUAGE = r"^[a-z_]{3,12}(\+[a-z_]{3,12}){0,3}$"
STALE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class OcrSettings:
    max_edge: int = 3000
    timeout: float = 600.0  # seconds for one page
    binary: str = "tesseract"


@dataclass(frozen=True, slots=True)
class RecognisedPage:
    text: str
    words: list[list[Any]]  # [text, x, y, w, h, line]
    alto: bytes


Box = tuple[int, int, int, int]  # x, y, w, h


def installed_languages(binary: str = "tesseract") -> list[str]:
    """The Tesseract language packs on this machine, e.g. ['eng', 'vie']."""
    return list(_installed_languages(binary))


@functools.lru_cache(maxsize=4)
def _installed_languages(binary: str) -> tuple[str, ...]:
    if shutil.which(binary) is None:
        return ()
    try:
        listed = subprocess.run(
            [binary, "--list-langs"], capture_output=True, text=True, timeout=120, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not list Tesseract's languages: %s", exc)
        _installed_languages.cache_clear()
        return ()
    return tuple(line.strip() for line in listed.stdout.splitlines()[1:] if line.strip() != "osd")


def languages_for(item: Item) -> str:
    """The item's own choice, or else its collection's; empty means no recognition."""
    if item.ocr_languages is not None:
        return item.ocr_languages
    return item.collection.ocr_languages if item.collection else ""


def segmentation(languages: str) -> list[str]:
    """Tesseract's page segmentation for the languages: a vertical pack reads the page as
    one block of vertical columns (``--psm 5``); anything else is laid out automatically."""
    return ["--psm", "5"] if is_vertical(languages) else []


def is_vertical(languages: str) -> bool:
    return any(pack.endswith("_vert") for pack in languages.split("+"))


def recognise(
    source: Path, width: int, height: int, languages: str, settings: OcrSettings
) -> RecognisedPage:
    """Run Tesseract over one page image; boxes come back in the page's full size."""
    image = pyvips.Image.thumbnail(
        str(source), settings.max_edge, height=settings.max_edge, size="down"
    )  # never enlarged: Tesseract reads an enlarged page worse, and slower
    scale_x, scale_y = width / image.width, height / image.height
    grey = image.colourspace("b-w").copy_memory()  # read twice: to save, then for ink
    with tempfile.TemporaryDirectory(prefix="tangthu-ocr-") as folder:
        page = Path(folder) / "page.png"
        grey.pngsave(str(page))
        command = [settings.binary, str(page), str(Path(folder) / "out"), "-l", languages]
        try:
            subprocess.run(
                [*command, *segmentation(languages), "alto"],
                capture_output=True,
                timeout=settings.timeout,
                check=True,
            )
        except FileNotFoundError as exc:
            raise Unavailable(f"{settings.binary} is not installed") from exc
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"recognition took longer than {settings.timeout:.0f} s") from exc
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip().splitlines()
            raise Unavailable(
                f"tesseract failed: {detail[-1] if detail else exc.returncode}"
            ) from exc
        alto = (Path(folder) / "out.xml").read_bytes()
    ink = functools.partial(ink_rows, grey) if is_vertical(languages) else None
    return scale_alto(alto, scale_x, scale_y, width, height, ink)


def ink_rows(grey: pyvips.Image, box: Box) -> list[float]:
    """How much ink each row of the box holds, on a grey image (dark ink, light paper)."""
    x, y, w, h = box
    x, y = max(0, x), max(0, y)
    w, h = min(w, grey.width - x), min(h, grey.height - y)
    if w <= 0 or h <= 0:
        return []
    _, rows = (255 - grey.crop(x, y, w, h)).project()
    return [float(row[0]) for row in rows.tolist()]


def scale_alto(
    alto: bytes,
    scale_x: float,
    scale_y: float,
    width: int,
    height: int,
    ink: Callable[[Box], list[float]] | None = None,
) -> RecognisedPage:
    """ALTO in the page's full-size pixels, and its words and text.

    With ``ink`` (a vertical page), columns are put right to left and each character
    gets its own box, cut where the column's ink is thinnest (see the module's doc)."""
    ET.register_namespace("", ALTO_NS)
    root = ET.fromstring(alto)  # noqa: S314 - our own Tesseract's output, never uploaded
    if ink is not None:
        arrange_columns(root, ink)
    for element in root.iter():
        for start, size, scale in (("HPOS", "WIDTH", scale_x), ("VPOS", "HEIGHT", scale_y)):
            _scale_span(element, start, size, scale)
    for page in root.iter(f"{{{ALTO_NS}}}Page"):
        page.set("WIDTH", str(width))
        page.set("HEIGHT", str(height))
    words: list[list[Any]] = []
    lines: list[str] = []
    for number, line in enumerate(root.iter(f"{{{ALTO_NS}}}TextLine")):
        strings = [s for s in line.iter(f"{{{ALTO_NS}}}String") if s.get("CONTENT", "").strip()]
        for string in strings:
            box = [int(float(string.get(k, "0"))) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
            words.append([string.get("CONTENT", ""), *box, number])
        if strings:
            lines.append(join_words(s.get("CONTENT", "") for s in strings))
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return RecognisedPage("\n".join(lines), words, body)


def _scale_span(element: ET.Element, start: str, size: str, scale: float) -> None:
    """Scale the edges, not the sizes, so that a box inside another stays inside it."""
    low = float(element.get(start, "0"))
    if start in element.attrib:
        element.set(start, str(round(low * scale)))
    if size in element.attrib:
        high = low + float(element.attrib[size])
        element.set(size, str(round(high * scale) - round(low * scale)))


def _box(element: ET.Element) -> Box:
    x, y, w, h = (round(float(element.get(k, "0"))) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    return x, y, w, h


def _is_column(line: ET.Element) -> bool:
    _, _, w, h = _box(line)
    return h > w


def arrange_columns(root: ET.Element, ink: Callable[[Box], list[float]]) -> None:
    """Blocks and columns right to left, characters top to bottom, one box each."""
    laid_out = {f"{{{ALTO_NS}}}{tag}" for tag in ("ComposedBlock", "TextBlock", "TextLine")}
    for parent in list(root.iter()):
        children = [c for c in parent if c.tag in laid_out]
        if len(children) < 2:
            continue
        for child in children:
            parent.remove(child)
        parent.extend(sorted(children, key=lambda c: -(_box(c)[0] + _box(c)[2] / 2)))
    for line in root.iter(f"{{{ALTO_NS}}}TextLine"):
        if _is_column(line):
            _cut_characters(line, ink)


def _cut_characters(line: ET.Element, ink: Callable[[Box], list[float]]) -> None:
    """Order a column's strings top to bottom, and make each character a String of its
    own (ALTO 3 has no Glyph) with its share of the column."""
    strings = sorted(line.findall(f"{{{ALTO_NS}}}String"), key=lambda s: _box(s)[1])
    for child in list(line):
        line.remove(child)  # spaces (SP) between characters of a column mean nothing
    characters = [
        (string, number, character)
        for string in strings
        for number, character in enumerate(string.get("CONTENT", ""))
    ]
    if not characters:
        return
    x, top, w, h = _box(line)
    rows = ink((x, top, w, h))
    cuts = column_cuts(rows + [0.0] * (h - len(rows)), len(characters))
    for index, (string, number, character) in enumerate(characters):
        single = ET.SubElement(line, f"{{{ALTO_NS}}}String", dict(string.attrib))
        if len(string.get("CONTENT", "")) > 1 and "ID" in string.attrib:
            single.set("ID", f"{string.attrib['ID']}_{number}")
        single.attrib.update(CONTENT=character, HPOS=str(x), VPOS=str(top + cuts[index]))
        single.attrib.update(WIDTH=str(w), HEIGHT=str(cuts[index + 1] - cuts[index]))


def column_cuts(rows: list[float], characters: int) -> list[int]:
    """Where a column of ``characters`` is cut into characters, as row offsets from its
    top (first 0, last its height): evenly, each cut moved to the row with the least ink
    within a third of a character of it."""
    height = len(rows)
    pitch = height / characters
    cuts = [0]
    for k in range(1, characters):
        centre = round(k * pitch)
        reach = max(1, round(pitch / 3))
        window = range(max(cuts[-1] + 1, centre - reach), min(height - 1, centre + reach) + 1)
        best = min(window, key=lambda row: (rows[row], abs(row - centre)), default=centre)
        cuts.append(max(best, cuts[-1]))
    cuts.append(max(height, cuts[-1]))
    return cuts


def alto_key(image_id: str) -> str:
    return f"ocr/{image_id}.alto.xml"


def queue_pages(item: Item, images: Iterable[Image] | None = None, force: bool = False) -> int:
    """Queue the item's pages (or these pages) for recognition in its languages.

    Pages already read in the same languages are left alone unless ``force``. Returns how
    many were queued; the caller commits.
    """
    languages = languages_for(item)
    if not languages:
        return 0
    queued = 0
    for image in images if images is not None else item.images:
        current = image.page_text
        if current is not None and not force and current.languages == languages:
            if current.status != "failed":
                continue
        if current is None:
            current = PageText(image_id=image.id, item_id=item.id, languages=languages)
            image.page_text = current
        current.languages, current.status, current.message = languages, "queued", ""
        queued += 1
    return queued


def claim_next() -> PageText | None:
    """Take one queued page for this process; pages stuck in 'processing' for an hour
    (their worker died) are queued again."""
    stale = utcnow() - STALE
    db.session.execute(
        update(PageText)
        .where(PageText.status == "processing", PageText.updated_at < stale)
        .values(status="queued")
    )
    db.session.commit()
    while True:
        candidate = db.session.execute(
            db.select(PageText.image_id).filter_by(status="queued").order_by(PageText.updated_at)
        ).scalar()
        if candidate is None:
            return None
        claimed = db.session.execute(
            update(PageText)
            .where(PageText.image_id == candidate, PageText.status == "queued")
            .values(status="processing", updated_at=utcnow())
        )
        db.session.commit()
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return db.session.get(PageText, candidate)


def process(page: PageText, storage: Storage, settings: OcrSettings) -> None:
    """Recognise one claimed page and store its text, words and ALTO."""
    image = db.session.get(Image, page.image_id)
    if image is None:
        return
    try:
        result = recognise(
            storage.local_path(image.pyramid_key),
            image.width,
            image.height,
            page.languages,
            settings,
        )
    except (ServiceError, pyvips.Error, KeyError, OSError) as exc:
        log.warning("OCR of page %s failed: %s", image.id, exc)
        page.status, page.message = "failed", str(exc)[:1000]
        db.session.commit()
        return
    storage.put_bytes(alto_key(image.id), result.alto)
    page.text, page.words, page.alto_key = result.text, result.words, alto_key(image.id)
    page.status, page.message = "done", ""
    db.session.commit()


def waiting(item_id: str) -> int:
    """Pages of the item still queued or being read."""
    return int(
        db.session.execute(
            db.select(db.func.count())
            .select_from(PageText)
            .where(PageText.item_id == item_id, PageText.status.in_(("queued", "processing")))
        ).scalar_one()
    )


def drain(
    storage: Storage,
    settings: OcrSettings,
    finished: Callable[[Item], None],
    progress: Callable[[PageText], None] | None = None,
    limit: int | None = None,
) -> int:
    """Read queued pages until none are left; ``finished`` runs once an item's last page
    is done (to republish it and refresh search). Returns the number of pages read."""
    count = 0
    while limit is None or count < limit:
        page = claim_next()
        if page is None:
            break
        process(page, storage, settings)
        count += 1
        if progress is not None:
            progress(page)
        if waiting(page.item_id) == 0:
            item = db.session.get(Item, page.item_id)
            if item is not None:
                finished(item)
    return count
