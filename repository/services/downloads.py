"""Downloads: a PDF of an item's pages, made from the pyramids and kept in storage."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import defaultdict

import pyvips
from PIL import Image as PILImage

from ..models import Item
from ..storage import Storage
from .errors import TooLarge

PDF_EDGE = 1600  # long edge in pixels: readable on screen and in print, not a master
PDF_QUALITY = 80
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


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


def item_pdf(item: Item, storage: Storage, max_pages: int) -> bytes:
    """The item's PDF, made once per version of its pages (one maker at a time per item)."""
    if len(item.images) > max_pages:
        raise TooLarge(f"items over {max_pages} pages have no PDF download")
    key = pdf_key(item)
    with _locks[item.id]:
        try:
            return storage.get_bytes(key)
        except KeyError:
            pass
        pages = [_page(storage, image.pyramid_key) for image in item.images]
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
        storage.put_bytes(key, body)
        return body
