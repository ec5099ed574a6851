"""Text recognition: Tesseract reads each page, and the words keep their boxes.

A page is read from its access derivative, scaled so its long edge is at most
``OcrSettings.max_edge`` (Tesseract reads print best at roughly 300 dpi, and a 100 MP
scan would only be slow). Tesseract writes ALTO; the boxes are scaled back to the
page's full size, so the stored ALTO, the words and every Content Search hit are in
canvas coordinates.

The ``page_text`` table is the queue: pages wait there as 'queued' and any process
(the web app's worker thread, or `tangthu ocr`) may claim one.
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


def recognise(
    source: Path, width: int, height: int, languages: str, settings: OcrSettings
) -> RecognisedPage:
    """Run Tesseract over one page image; boxes come back in the page's full size."""
    image = pyvips.Image.thumbnail(str(source), settings.max_edge, height=settings.max_edge)
    scale_x, scale_y = width / image.width, height / image.height
    with tempfile.TemporaryDirectory(prefix="tangthu-ocr-") as folder:
        page = Path(folder) / "page.png"
        image.colourspace("b-w").pngsave(str(page))
        try:
            subprocess.run(
                [settings.binary, str(page), str(Path(folder) / "out"), "-l", languages, "alto"],
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
    return scale_alto(alto, scale_x, scale_y, width, height)


def scale_alto(
    alto: bytes, scale_x: float, scale_y: float, width: int, height: int
) -> RecognisedPage:
    """ALTO in the page's full-size pixels, and its words and text."""
    ET.register_namespace("", ALTO_NS)
    root = ET.fromstring(alto)  # noqa: S314 - our own Tesseract's output, never uploaded
    for element in root.iter():
        for name, scale in (
            ("HPOS", scale_x),
            ("WIDTH", scale_x),
            ("VPOS", scale_y),
            ("HEIGHT", scale_y),
        ):
            if name in element.attrib:
                element.set(name, str(round(float(element.attrib[name]) * scale)))
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
            lines.append(" ".join(s.get("CONTENT", "") for s in strings))
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return RecognisedPage("\n".join(lines), words, body)


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
