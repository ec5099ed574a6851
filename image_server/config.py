"""Image server settings: defaults, then TANGTHU_* environment variables, then the caller's."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .memory import MMAP_THRESHOLD, TRIM_EVERY

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # Where derivatives live; the repository writes there, we only read.
    "STORAGE_URL": (PROJECT_ROOT / "instance" / "storage").as_uri(),
    # Public base URL of this server, as clients see it; empty means "from the Host header".
    "IMAGE_URL": "",
    "MAX_WIDTH": 12_000,
    "MAX_HEIGHT": 12_000,
    "MAX_AREA": 40_000_000,
    # PNG and TIFF hold the whole output while they encode; GIF quantises it whole.
    "MAX_LOSSLESS_AREA": 16_000_000,
    "MAX_GIF_EDGE": 1024,
    "JPEG_QUALITY": 85,
    "CACHE_MAX_AGE": 86_400,
    "SOURCE_CACHE_SIZE": 256,
    # Rendered images up to 1 MB are kept in memory, per worker process.
    "TILE_CACHE_MB": 64,
    # An optional disk cache of rendered derivatives, shared by workers; empty is off.
    "DERIVATIVE_CACHE_DIR": "",
    "DERIVATIVE_CACHE_MB": 2048,
    # Large renders (anything bigger than a tile or a small thumbnail) go to each worker's
    # slow lane: a child process at the lowest CPU priority that makes one at a time,
    # under RENDER_MEMORY_MB of address space and within RENDER_SECONDS. LANE_QUEUE more
    # may wait up to LANE_WAIT seconds for it; past that, 503 with Retry-After. A client
    # may have LARGE_PER_CLIENT of them at once per worker; past that, 429.
    "LANE_QUEUE": 2,
    "LANE_WAIT": 10.0,
    "RENDER_SECONDS": 20.0,
    "RENDER_MEMORY_MB": 1536,
    "LARGE_PER_CLIENT": 1,
    "RETRY_AFTER": 2,
    "VIPS_LOCKDOWN": True,
    # Tests only: skips the start-up refusal of placeholder and weak token keys.
    "TESTING": False,
    # glibc: buffers from this many bytes up are mmapped and given back when freed (0:
    # glibc's dynamic default, which lets the heaps fragment); the heaps are trimmed
    # every TRIM_EVERY renders. See image_server/memory.py.
    "MALLOC_MMAP_THRESHOLD": MMAP_THRESHOLD,
    "TRIM_EVERY": TRIM_EVERY,
    # With s3:// storage, how long a cached pyramid is trusted before a HEAD request
    # checks it. Pyramids are written once under fresh ids, so this can be long.
    "S3_REVALIDATE_SECONDS": 3600,
    # How long a policy sidecar (access level, checksum) is trusted before it is re-read.
    "POLICY_TTL_SECONDS": 5,
    # The repository's public URL (its IIIF Auth services) and the keys its access
    # tokens are signed with ({"kid": "secret"}, shared with the repository).
    "PUBLIC_URL": "http://127.0.0.1:8000",
    "ACCESS_TOKEN_KEYS": "",
    "ACCESS_COOKIE": "tangthu_access",
    # The reading room's networks (CIDRs, a list or comma-separated): requests from there
    # see 'onsite' images, checked on every request; shared with the repository.
    "ONSITE_RANGES": [],
    # Proxies in front of this server whose X-Forwarded-For is trusted for the address.
    "PROXY_HOPS": 0,
    # Partner sites (https://host) whose viewers may read non-open images with the
    # reader's cookie (CORS with credentials), besides PUBLIC_URL; shared with the repository.
    "PARTNER_ORIGINS": [],
}


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Layer defaults, ``TANGTHU_*`` variables (JSON-decoded where they parse) and overrides."""
    config = dict(DEFAULTS)
    for name, raw in (os.environ if environ is None else environ).items():
        if not name.startswith("TANGTHU_"):
            continue
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        config[name.removeprefix("TANGTHU_")] = value
    config.update(overrides or {})
    return config
