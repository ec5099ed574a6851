"""The repository's settings as one typed, frozen object, checked once in the factory.

``Settings.from_config`` reads the layered config (see ``config.DEFAULTS`` for every key
and its meaning); a value that cannot work is a ``SettingError`` naming its variable.
Views and commands read ``current_settings()``; services are handed what they need.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app

from image_server.policy import (
    Network,
    origin_of,
    parse_networks,
    parse_origins,
    trusted_origins,
)
from image_server.readcache import DEFAULT_CACHE_MAX_BYTES
from manifests import Urls

from .config import DEFAULTS

T = TypeVar("T")

EXTENSION = "tangthu.settings"


class SettingError(ValueError):
    """A setting that cannot work; the message starts with its variable's name."""


class _Reader:
    """Reads keys from a layered config; a bad value is a ValueError naming its variable."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    def raw(self, key: str) -> Any:
        return self.config.get(key, DEFAULTS.get(key))

    def parsed(self, key: str, parse: Callable[[Any], T]) -> T:
        try:
            return parse(self.raw(key))
        except (TypeError, ValueError) as exc:
            raise SettingError(f"TANGTHU_{key}: {exc}") from None

    def text(self, key: str) -> str:
        return self.parsed(key, _text)

    def whole(self, key: str, minimum: int = 0) -> int:
        return self.parsed(key, lambda value: _whole(value, minimum))

    def number(self, key: str, minimum: float = 0.0) -> float:
        return self.parsed(key, lambda value: _number(value, minimum))

    def flag(self, key: str) -> bool:
        return self.parsed(key, _flag)

    def language_map(self, key: str) -> dict[str, str]:
        return self.parsed(key, _language_map)

    def texts(self, key: str) -> tuple[str, ...]:
        return self.parsed(key, _texts)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | dict | list):
        raise ValueError(f"expected text, not {value!r}")
    return str(value)  # JSON made a number of digits: they were meant as text


def _whole(value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected a whole number, not {value!r}")
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        raise ValueError(f"expected a whole number, not {value!r}")
    number = int(value)
    if number < minimum:
        raise ValueError(f"must be at least {minimum}, not {number}")
    return number


def _number(value: Any, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number, not {value!r}") from None
    if not number >= minimum:  # also refuses NaN
        raise ValueError(f"must be at least {minimum:g}, not {value!r}")
    return number


def _queue_url(value: Any) -> str:
    text = _text(value)
    if text and not text.startswith(("redis://", "rediss://", "unix://", "sqlite:///")):
        raise ValueError(
            f"expected empty (a file in the instance folder), sqlite:/// or redis://, not {text!r}"
        )
    return text


def _optional_flag(value: Any) -> bool | None:
    """True or false; empty (or none) leaves the choice to the code that reads it."""
    return None if value is None or value == "" else _flag(value)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, not {value!r}")


def _language_map(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip().startswith("{") else {"vi": value}
        except ValueError:
            raise ValueError('expected a JSON object such as {"vi": "…"}') from None
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f'expected a language map such as {{"vi": "…"}}, not {value!r}')
    return {str(lang): str(text) for lang, text in value.items()}


def _texts(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    entries = value.split(",") if isinstance(value, str) else value
    if not isinstance(entries, list | tuple):
        raise ValueError(f"expected a list, or values separated by commas, not {value!r}")
    return tuple(text for text in (str(entry).strip() for entry in entries) if text)


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting the repository's own code reads, checked once, in the factory."""

    public_url: str
    image_url: str
    storage_url: str
    staging_dir: Path
    search_url: str
    search_index: str
    library_name: dict[str, str]
    library_homepage: str
    library_logo: str
    attribution: dict[str, str]
    default_rights: str
    open_data_license: str
    languages: tuple[str, ...]
    default_locale: str
    collection_page_size: int
    discovery_page_size: int
    oai_page_size: int
    oai_admin_emails: tuple[str, ...]
    pdf_max_pages: int
    degraded_edge: int
    onsite_networks: tuple[Network, ...]
    partner_origins: tuple[str, ...]
    access_token_lifetime: int
    access_cookie: str
    access_cookie_domain: str | None
    secure_cookies: bool
    proxy_hops: int
    login_max_failures: int
    login_lockout_minutes: int
    harvest_allow_networks: tuple[Network, ...]
    monitor_networks: tuple[Network, ...]
    harvest_connect_timeout: float
    harvest_read_timeout: float
    harvest_deadline: float
    harvest_max_bytes: int
    harvest_max_pages: int
    max_file_bytes: int
    max_image_pixels: int
    max_pages: int
    pdf_dpi: int
    pyramid_tile_size: int
    pyramid_quality: int
    ocr_max_edge: int
    ocr_timeout: float
    queue_url: str = ""
    queue_embedded_worker: bool | None = None  # None: only when TESTING
    usage_recording: bool = True
    usage_batch: int = 500
    usage_flush_seconds: float = 5.0
    s3_endpoint: str = ""
    s3_access_key: str = field(default="", repr=False)
    s3_secret_key: str = field(default="", repr=False)
    s3_region: str = ""
    s3_create_bucket: bool = False
    s3_cache_dir: str = ""
    s3_cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    s3_cache_revalidate_seconds: float = 0.0
    secret_key: str = field(default="", repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], instance: Path | None = None) -> Settings:
        """The settings of a layered config (missing keys take DEFAULTS); ValueError,
        naming the variable, for a value that cannot work. ``instance`` is the folder
        that empty STORAGE_URL and STAGING_DIR fall back to."""
        read = _Reader(config)
        instance = (instance or Path("instance")).absolute()
        languages = read.texts("LANGUAGES")
        if not languages:
            raise SettingError("TANGTHU_LANGUAGES: name at least one language, such as vi")
        secret = read.raw("SECRET_KEY") or ""
        return cls(
            public_url=read.parsed("PUBLIC_URL", _base_url),
            image_url=read.parsed("IMAGE_URL", _base_url),
            storage_url=read.text("STORAGE_URL") or (instance / "storage").as_uri(),
            staging_dir=Path(read.text("STAGING_DIR") or instance / "staging"),
            search_url=read.parsed("SEARCH_URL", _search_url),
            search_index=read.text("SEARCH_INDEX"),
            library_name=read.language_map("LIBRARY_NAME"),
            library_homepage=read.text("LIBRARY_HOMEPAGE"),
            library_logo=read.text("LIBRARY_LOGO"),
            attribution=read.language_map("ATTRIBUTION"),
            default_rights=read.text("DEFAULT_RIGHTS"),
            open_data_license=read.text("OPEN_DATA_LICENSE"),
            languages=languages,
            default_locale=read.text("BABEL_DEFAULT_LOCALE") or languages[0],
            collection_page_size=read.whole("COLLECTION_PAGE_SIZE", 1),
            discovery_page_size=read.whole("DISCOVERY_PAGE_SIZE", 1),
            oai_page_size=read.whole("OAI_PAGE_SIZE", 1),
            oai_admin_emails=read.texts("OAI_ADMIN_EMAIL"),
            pdf_max_pages=read.whole("PDF_MAX_PAGES", 1),
            degraded_edge=read.whole("DEGRADED_EDGE", 1),
            onsite_networks=read.parsed("ONSITE_RANGES", parse_networks),
            partner_origins=read.parsed("PARTNER_ORIGINS", parse_origins),
            access_token_lifetime=read.whole("ACCESS_TOKEN_LIFETIME", 1),
            access_cookie=read.text("ACCESS_COOKIE") or "tangthu_access",
            access_cookie_domain=read.text("ACCESS_COOKIE_DOMAIN") or None,
            secure_cookies=read.flag("SESSION_COOKIE_SECURE"),
            proxy_hops=read.whole("PROXY_HOPS"),
            login_max_failures=read.whole("LOGIN_MAX_FAILURES", 1),
            login_lockout_minutes=read.whole("LOGIN_LOCKOUT_MINUTES", 1),
            harvest_allow_networks=read.parsed("HARVEST_ALLOW_NETWORKS", parse_networks),
            monitor_networks=read.parsed("MONITOR_NETWORKS", parse_networks),
            harvest_connect_timeout=read.number("HARVEST_CONNECT_TIMEOUT"),
            harvest_read_timeout=read.number("HARVEST_READ_TIMEOUT"),
            harvest_deadline=read.number("HARVEST_DEADLINE"),
            harvest_max_bytes=read.whole("HARVEST_MAX_BYTES", 1),
            harvest_max_pages=read.whole("HARVEST_MAX_PAGES", 1),
            max_file_bytes=read.whole("MAX_FILE_BYTES", 1),
            max_image_pixels=read.whole("MAX_IMAGE_PIXELS", 1),
            max_pages=read.whole("MAX_PAGES", 1),
            pdf_dpi=read.whole("PDF_DPI", 1),
            pyramid_tile_size=read.whole("PYRAMID_TILE_SIZE", 16),
            pyramid_quality=read.parsed("PYRAMID_QUALITY", _quality),
            ocr_max_edge=read.whole("OCR_MAX_EDGE", 1),
            ocr_timeout=read.number("OCR_TIMEOUT"),
            queue_url=read.parsed("QUEUE_URL", _queue_url),
            queue_embedded_worker=read.parsed("QUEUE_EMBEDDED_WORKER", _optional_flag),
            usage_recording=read.flag("USAGE_RECORDING"),
            usage_batch=read.whole("USAGE_BATCH", 1),
            usage_flush_seconds=read.number("USAGE_FLUSH_SECONDS", 0.001),
            s3_endpoint=read.text("S3_ENDPOINT"),
            s3_access_key=read.text("S3_ACCESS_KEY"),
            s3_secret_key=read.text("S3_SECRET_KEY"),
            s3_region=read.text("S3_REGION"),
            s3_create_bucket=read.flag("S3_CREATE_BUCKET"),
            s3_cache_dir=read.text("S3_CACHE_DIR"),
            s3_cache_max_bytes=read.whole("S3_CACHE_MAX_BYTES", 1),
            s3_cache_revalidate_seconds=read.number("S3_CACHE_REVALIDATE_SECONDS"),
            secret_key=secret.decode("latin-1") if isinstance(secret, bytes) else str(secret),
        )

    @property
    def urls(self) -> Urls:
        """Where every public id points: this site and its image server."""
        return Urls(self.public_url, self.image_url)

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
            "CREATE_BUCKET": "1" if self.s3_create_bucket else "",
            "CACHE_DIR": self.s3_cache_dir,
            "CACHE_MAX_BYTES": str(self.s3_cache_max_bytes),
            "CACHE_REVALIDATE_SECONDS": repr(self.s3_cache_revalidate_seconds),
        }
        return {f"TANGTHU_S3_{name}": value for name, value in values.items() if value}


def _base_url(value: Any) -> str:
    text = _text(value).strip()
    if not text.startswith(("http://", "https://")) or not origin_of(text):
        raise ValueError(
            f"expected an http(s) address such as https://thuvien.example.vn: {text!r}"
        )
    return text


def _search_url(value: Any) -> str:
    text = _text(value).strip()
    if text and not text.startswith(("sqlite:", "http://", "https://")):
        raise ValueError(f"must be empty, sqlite:///… or http(s)://…: {text!r}")
    return text


def _quality(value: Any) -> int:
    quality = _whole(value, 1)
    if quality > 100:
        raise ValueError(f"a JPEG quality is 1 to 100, not {quality}")
    return quality


def settings_of(app: Flask) -> Settings:
    """The settings ``create_app`` checked for this app."""
    settings: Settings = app.extensions[EXTENSION]
    return settings


def current_settings() -> Settings:
    """The settings of the app handling this request or command."""
    return settings_of(current_app)
