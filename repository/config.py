"""Defaults for the repository. Deployments override them with TANGTHU_* variables."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # Public base URLs: every id in a manifest is made from these, so proxies work.
    "PUBLIC_URL": "http://127.0.0.1:8000",
    "IMAGE_URL": "http://127.0.0.1:8182",
    # Empty means a SQLite file and a storage folder inside the instance folder.
    "DATABASE_URL": "",
    "STORAGE_URL": "",
    # Empty: SQLite FTS5 beside the database. Or http(s)://host:9200 for OpenSearch,
    # which reads and writes through the alias SEARCH_INDEX.
    "SEARCH_URL": "",
    "SEARCH_INDEX": "tangthu",
    "LIBRARY_NAME": {"vi": "Thư viện Tàng Thư", "en": "Tàng Thư Library"},
    # The library's home page and logo, for the IIIF `provider` of every manifest;
    # empty means this site's home page and its bundled logo.
    "LIBRARY_HOMEPAGE": "",
    "LIBRARY_LOGO": "",
    # What a manifest asks users to credit, and the rights URI when an item has none.
    "ATTRIBUTION": {"vi": "Thư viện Tàng Thư", "en": "Tàng Thư Library"},
    "DEFAULT_RIGHTS": "http://rightsstatements.org/vocab/InC-EDU/1.0/",
    # The licence of the published metadata in the open-data export (not of the images).
    "OPEN_DATA_LICENSE": "https://creativecommons.org/publicdomain/zero/1.0/",
    # A collection with more manifests than this is served in pages of this size.
    "COLLECTION_PAGE_SIZE": 1000,
    "PDF_MAX_PAGES": 600,
    # Access: the long edge everyone may see of a 'degraded' image, the reading room's
    # networks for 'onsite' items, and the access-token keys ({"kid": "secret"}, newest
    # first; generated into the instance folder when unset, and shared with the image
    # server through TANGTHU_ACCESS_TOKEN_KEYS).
    "DEGRADED_EDGE": 1200,
    # CIDRs, a JSON list or comma-separated; checked on every request, never remembered.
    "ONSITE_RANGES": [],
    # Partner sites (https://host[:port]) whose viewers may receive IIIF access tokens and
    # read non-open images with the reader's cookie, besides PUBLIC_URL itself. The image
    # server needs the same list.
    "PARTNER_ORIGINS": [],
    "ACCESS_TOKEN_KEYS": "",
    "ACCESS_TOKEN_LIFETIME": 8 * 3600,
    "ACCESS_COOKIE": "tangthu_access",
    # Set to the parent domain (".thuvien.example.vn") when the image server has its own host.
    "ACCESS_COOKIE_DOMAIN": None,
    "PROXY_HOPS": 0,
    # Single sign-on (OpenID Connect); off while OIDC_ISSUER is empty. See repository/auth/oidc.py.
    # Give the secret only through the environment: TANGTHU_OIDC_CLIENT_SECRET.
    "OIDC_ISSUER": "",
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": "",
    "OIDC_SCOPE": "openid profile email",
    "OIDC_ROLE_CLAIM": "roles",
    "OIDC_ROLE_MAP": {},
    "OIDC_GROUPS_CLAIM": "groups",
    "OIDC_LABEL": {"vi": "Đăng nhập một lần", "en": "Single sign-on"},
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_LOCKOUT_MINUTES": 15,
    # Harvesting and remote manifests fetch only from the public internet, and from these
    # networks: CIDRs, e.g. ["10.0.0.0/8"] or "10.0.0.0/8,192.168.1.0/24" from the
    # environment, for partners on the same intranet.
    "HARVEST_ALLOW_NETWORKS": [],
    # Ingest limits: every upload is hostile until checked.
    "MAX_FILE_BYTES": 1024 * 1024 * 1024,
    "MAX_IMAGE_PIXELS": 400_000_000,
    "MAX_PAGES": 2_000,  # per file and per item
    "PDF_DPI": 300,
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024 * 1024,
    # Text recognition: pages are scaled to this long edge for Tesseract, which may take
    # this many seconds per page.
    "OCR_MAX_EDGE": 3000,
    "OCR_TIMEOUT": 600,
    "PYRAMID_TILE_SIZE": 256,
    "PYRAMID_QUALITY": 85,
    # Sessions: secure by default; the demo, on plain http, turns Secure off.
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_SECURE": True,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "WTF_CSRF_TIME_LIMIT": 8 * 3600,
    "LANGUAGES": ["vi", "en"],
    "BABEL_DEFAULT_LOCALE": "vi",
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
}
