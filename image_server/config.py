"""Image server settings: defaults, then TANGTHU_* environment variables, then the caller's.

``load_config`` layers them; ``Settings.from_mapping`` checks the result once, in
``create_app``, and a value that cannot work stops the server with its variable's name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import tokens
from .memory import MMAP_THRESHOLD, TRIM_EVERY
from .policy import Network, parse_networks, parse_origins, trusted_origins
from .readcache import DEFAULT_CACHE_MAX_BYTES

T = TypeVar("T")

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
    # Browsers keep a public image this long; shared caches (nginx, a CDN) only
    # SHARED_CACHE_MAX_AGE, then revalidate it, so tightening an image's access reaches
    # them within that time (the ETag carries the policy: a revalidation is decided anew).
    "CACHE_MAX_AGE": 86_400,
    "SHARED_CACHE_MAX_AGE": 300,
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
    # s3:// storage: the service, its credentials (the secret only through the
    # environment), region, and the local read-through cache (empty: the system's
    # temporary folder) with its size; shared with the repository.
    "S3_ENDPOINT": "",
    "S3_ACCESS_KEY": "",
    "S3_SECRET_KEY": "",
    "S3_REGION": "",
    "S3_CACHE_DIR": "",
    "S3_CACHE_MAX_BYTES": DEFAULT_CACHE_MAX_BYTES,
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
    # Networks of the monitoring system: /ready tells them why a part is down (the
    # exception's class); everyone else hears only what is down.
    "MONITOR_NETWORKS": [],
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


def _named(key: str, parse: Callable[[Any], T], value: Any) -> T:
    try:
        return parse(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"TANGTHU_{key}: {exc}") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | dict | list):
        raise ValueError(f"expected text, not {value!r}")
    return str(value)


def _whole(minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"expected a whole number, not {value!r}")
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            raise ValueError(f"expected a whole number, not {value!r}")
        if int(value) < minimum:
            raise ValueError(f"must be at least {minimum}, not {value}")
        return int(value)

    return parse


def _number(minimum: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"expected a number, not {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"expected a number, not {value!r}") from None
        if not number >= minimum:  # also refuses NaN
            raise ValueError(f"must be at least {minimum:g}, not {value!r}")
        return number

    return parse


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, not {value!r}")


def _keys(value: Any) -> tokens.Keys | None:
    return tokens.Keys.parse(value) if value else None


def _quality(value: Any) -> int:
    quality = _whole(1)(value)
    if quality > 100:
        raise ValueError(f"a JPEG quality is 1 to 100, not {quality}")
    return quality


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting the image server reads, typed and checked once, in ``create_app``."""

    storage_url: str
    image_url: str
    max_width: int
    max_height: int
    max_area: int
    max_lossless_area: int
    max_gif_edge: int
    jpeg_quality: int
    cache_max_age: int
    shared_cache_max_age: int
    source_cache_size: int
    tile_cache_mb: int
    derivative_cache_dir: str
    derivative_cache_mb: int
    lane_queue: int
    lane_wait: float
    render_seconds: float
    render_memory_mb: int
    large_per_client: int
    retry_after: int
    vips_lockdown: bool
    testing: bool
    malloc_mmap_threshold: int
    trim_every: int
    s3_revalidate_seconds: float
    policy_ttl_seconds: float
    public_url: str
    access_token_keys: tokens.Keys | None = field(repr=False)
    access_cookie: str
    onsite_networks: tuple[Network, ...]
    proxy_hops: int
    partner_origins: tuple[str, ...]
    monitor_networks: tuple[Network, ...] = ()
    s3_endpoint: str = ""
    s3_access_key: str = field(default="", repr=False)
    s3_secret_key: str = field(default="", repr=False)
    s3_region: str = ""
    s3_cache_dir: str = ""
    s3_cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> Settings:
        """The settings of a layered config (``load_config``; missing keys take DEFAULTS);
        ValueError naming the variable for a value that cannot work."""

        def read(key: str, parse: Callable[[Any], T]) -> T:
            return _named(key, parse, config.get(key, DEFAULTS.get(key)))

        return cls(
            storage_url=read("STORAGE_URL", _text),
            image_url=read("IMAGE_URL", _text),
            max_width=read("MAX_WIDTH", _whole(1)),
            max_height=read("MAX_HEIGHT", _whole(1)),
            max_area=read("MAX_AREA", _whole(1)),
            max_lossless_area=read("MAX_LOSSLESS_AREA", _whole(1)),
            max_gif_edge=read("MAX_GIF_EDGE", _whole(1)),
            jpeg_quality=read("JPEG_QUALITY", _quality),
            cache_max_age=read("CACHE_MAX_AGE", _whole(0)),
            shared_cache_max_age=read("SHARED_CACHE_MAX_AGE", _whole(0)),
            source_cache_size=read("SOURCE_CACHE_SIZE", _whole(1)),
            tile_cache_mb=read("TILE_CACHE_MB", _whole(0)),
            derivative_cache_dir=read("DERIVATIVE_CACHE_DIR", _text),
            derivative_cache_mb=read("DERIVATIVE_CACHE_MB", _whole(1)),
            lane_queue=read("LANE_QUEUE", _whole(0)),
            lane_wait=read("LANE_WAIT", _number(0)),
            render_seconds=read("RENDER_SECONDS", _number(0)),
            render_memory_mb=read("RENDER_MEMORY_MB", _whole(1)),
            large_per_client=read("LARGE_PER_CLIENT", _whole(1)),
            retry_after=read("RETRY_AFTER", _whole(0)),
            vips_lockdown=read("VIPS_LOCKDOWN", _flag),
            testing=read("TESTING", _flag),
            malloc_mmap_threshold=read("MALLOC_MMAP_THRESHOLD", _whole(0)),
            trim_every=read("TRIM_EVERY", _whole(1)),
            s3_revalidate_seconds=read("S3_REVALIDATE_SECONDS", _number(0)),
            policy_ttl_seconds=read("POLICY_TTL_SECONDS", _number(0)),
            public_url=read("PUBLIC_URL", _text),
            access_token_keys=read("ACCESS_TOKEN_KEYS", _keys),
            access_cookie=read("ACCESS_COOKIE", _text) or "tangthu_access",
            onsite_networks=read("ONSITE_RANGES", parse_networks),
            proxy_hops=read("PROXY_HOPS", _whole(0)),
            partner_origins=read("PARTNER_ORIGINS", parse_origins),
            monitor_networks=read("MONITOR_NETWORKS", parse_networks),
            s3_endpoint=read("S3_ENDPOINT", _text),
            s3_access_key=read("S3_ACCESS_KEY", _text),
            s3_secret_key=read("S3_SECRET_KEY", _text),
            s3_region=read("S3_REGION", _text),
            s3_cache_dir=read("S3_CACHE_DIR", _text),
            s3_cache_max_bytes=read("S3_CACHE_MAX_BYTES", _whole(1)),
        )

    @property
    def trusted_origins(self) -> frozenset[str]:
        """Sites whose viewers may read non-open images with the reader's cookie."""
        return trusted_origins(self.public_url, self.partner_origins)

    def s3_variables(self) -> dict[str, str]:
        """The S3 settings under the names the storage readers take (TANGTHU_S3_*)."""
        values = {
            "ENDPOINT": self.s3_endpoint,
            "ACCESS_KEY": self.s3_access_key,
            "SECRET_KEY": self.s3_secret_key,
            "REGION": self.s3_region,
            "CACHE_DIR": self.s3_cache_dir,
            "CACHE_MAX_BYTES": str(self.s3_cache_max_bytes),
        }
        return {f"TANGTHU_S3_{name}": value for name, value in values.items() if value}
