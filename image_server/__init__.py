"""Tàng Thư image server: IIIF Image API 3.0 and 2.1 over pyramidal TIFFs, no database."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyvips

from .config import Settings, load_config
from .memory import fix_mmap_threshold
from .secrecy import check_token_keys

if TYPE_CHECKING:  # imported when an app is made, so the contract modules come alone
    from .views import ImageServer

# Loaders an attacker could reach through a crafted derivative are never needed here:
# we only ever read the TIFFs that ingest wrote.
BLOCKED_LOADERS = ("VipsForeignLoad",)
ALLOWED_LOADERS = ("VipsForeignLoadTiff",)


def bound_vips_caches() -> None:
    """libvips' operation cache would hold files open by name: we keep our own LRU."""
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    pyvips.cache_set_max_files(0)


def lock_down_vips() -> None:
    """Block every libvips loader but TIFF: the only files we read are our pyramids."""
    pyvips.operation_block_set(BLOCKED_LOADERS[0], True)
    for loader in ALLOWED_LOADERS:
        pyvips.operation_block_set(loader, False)


def create_app(config: Mapping[str, Any] | None = None) -> ImageServer:
    """Build the image server WSGI app; see ``config.DEFAULTS`` for the keys it reads.

    ``VIPS_LOCKDOWN`` (default true) blocks every libvips loader but TIFF. The block is
    process-wide, so a process that also ingests (a test, say) turns it off.
    Placeholder or weak ``ACCESS_TOKEN_KEYS`` stop it, unless ``TESTING`` is true.
    """
    from .views import ImageServer

    layered = load_config(config)
    settings = Settings.from_mapping(layered)  # every value checked, here, once
    if settings.access_token_keys and not settings.testing:
        check_token_keys("TANGTHU_ACCESS_TOKEN_KEYS", layered["ACCESS_TOKEN_KEYS"])
    fix_mmap_threshold(settings.malloc_mmap_threshold)
    bound_vips_caches()
    if settings.vips_lockdown:
        lock_down_vips()
    return ImageServer(settings)


SWITCH_INTERVAL = 0.0005  # seconds; see serve()


def serve() -> Any:
    """The image server as deployed: JSON logs with request ids, and /metrics."""
    from .memory import freeze_startup_objects
    from .telemetry import IMAGE_QUIET_CLASSES, Observed, configure_logging, image_request_class

    configure_logging("image")
    app = Observed(create_app(), "image", image_request_class, IMAGE_QUIET_CLASSES)
    freeze_startup_objects()
    # A thread that wants the GIL waits up to this long for the one holding it. A tile is
    # about 50 µs of Python between waits; with Python's 5 ms the server's p99 under load
    # was 2.5-3x IIPImage's, at 0.5 ms it is 1.6-1.8x (benchmarks/README.md, tiles).
    sys.setswitchinterval(SWITCH_INTERVAL)
    return app
