"""Downloads: a PDF of an item's pages, made from the pyramids by a worker (job queue) and
kept in storage.

A request never builds a PDF: it finds the stored one, or puts one job per item on the
queue, within a cap on PDF jobs waiting in total, so no number of readers can make the
site build more PDFs at once than it has workers.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable

import pyvips
from PIL import Image as PILImage

from ..extensions import db
from ..models import Item, Job
from ..storage import Storage
from .errors import TooLarge, Unavailable

PDF_EDGE = 1600  # long edge in pixels: readable on screen and in print, not a master
PDF_QUALITY = 80
PDF_JOBS_WAITING = 20  # PDF jobs queued or running at once, over all items
UNFINISHED = ("queued", "running")
PDF_WAIT = 8.0  # seconds a request waits for a small PDF before answering 202


def pdf_key(item: Item) -> str:
    """Keyed by the pages' checksums, so a changed item gets a new PDF."""
    pages = "/".join(image.derivative_sha256 for image in item.images)
    return f"renderings/{item.id}-{hashlib.sha256(pages.encode()).hexdigest()[:16]}.pdf"


def _page(storage: Storage, pyramid_key: str) -> PILImage.Image:
    # thumbnail() opens the smallest pyramid page that is big enough.
    image = pyvips.Image.thumbnail(
        str(storage.local_path(pyramid_key)), PDF_EDGE, height=PDF_EDGE, size="down"
    )
    jpeg = image.jpegsave_buffer(Q=PDF_QUALITY, keep="none")
    return PILImage.open(io.BytesIO(jpeg))


def stored_pdf(item: Item, storage: Storage, max_pages: int) -> bytes | None:
    """The item's PDF if it has been made for its pages as they are; 413 past the limit."""
    if len(item.images) > max_pages:
        raise TooLarge(f"items over {max_pages} pages have no PDF download")
    try:
        return storage.get_bytes(pdf_key(item))
    except KeyError:
        return None


def pdf_job(item: Item) -> Job:
    """The job making this item's PDF: the one already waiting, or a new one if the
    queue has room (503 with Retry-After when it has not)."""
    from ..jobs import submit

    waiting: list[Job] = list(
        db.session.execute(
            db.select(Job).where(Job.kind == "pdf", Job.status.in_(UNFINISHED)).order_by(Job.id)
        ).scalars()
    )
    for job in waiting:
        if job.item_id == item.id:
            return job
    if len(waiting) >= PDF_JOBS_WAITING:
        raise Unavailable("many PDFs are being prepared; please try again in a minute")
    return submit("pdf", {"key": pdf_key(item)}, item_id=item.id)


def pdf_or_job(item: Item, storage: Storage, max_pages: int) -> bytes | Job:
    """The stored PDF, or else the job making it, waited for a few seconds (a short item
    is made by then, and the reader gets the file at once)."""
    body = stored_pdf(item, storage, max_pages)
    if body is not None:
        return body
    job = pdf_job(item)
    deadline = time.monotonic() + PDF_WAIT
    while time.monotonic() < deadline:
        time.sleep(0.1)
        db.session.refresh(job)
        if job.status not in UNFINISHED:
            break
    body = stored_pdf(item, storage, max_pages)
    return job if body is None else body


def build_pdf(
    item: Item, storage: Storage, progress: Callable[[int, int], None] | None = None
) -> bytes:
    """Make the item's PDF and store it under its key (in a worker; idempotent)."""
    key = pdf_key(item)
    try:
        return storage.get_bytes(key)
    except KeyError:
        pass
    pages = []
    for number, image in enumerate(item.images, start=1):
        pages.append(_page(storage, image.pyramid_key))
        if progress is not None:
            progress(number, len(item.images))
    out = io.BytesIO()
    title = next((t for t in item.title.values() if t), item.id)
    pages[0].save(
        out,
        "PDF",
        save_all=True,
        append_images=pages[1:],
        resolution=150,
        title=title,
        producer="Tàng Thư",
    )
    body = out.getvalue()
    storage.put_bytes(key, body)  # whole or not at all: storage writes are atomic
    return body
