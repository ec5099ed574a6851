"""The repository's settings: every key, its default and what it means.

``create_app`` layers ``DEFAULTS``, then ``instance/config.py``, then ``TANGTHU_*``
variables (``TANGTHU_OAI_PAGE_SIZE=50`` sets ``OAI_PAGE_SIZE``; values are JSON where
they parse), then the caller's mapping, and checks the result once into the typed,
frozen ``settings.Settings``: a bad value stops start-up with a message that names its
variable. Nothing reads these keys from ``app.config`` after the factory.

Flask and its extensions read their own keys from ``app.config`` (``SECRET_KEY``,
``SESSION_*``, ``REMEMBER_*``, ``WTF_*``, ``BABEL_*``, ``SQLALCHEMY_*``,
``MAX_CONTENT_LENGTH``); they are listed here for their defaults.
"""

from __future__ import annotations

from typing import Any

from image_server.readcache import DEFAULT_CACHE_MAX_BYTES

DEFAULTS: dict[str, Any] = {
    # Signs sessions and OAI-PMH resumption tokens; empty: made once into the instance
    # folder (instance/secret_key). Give it only through the environment.
    "SECRET_KEY": "",
    # Public base URLs: every id in a manifest is made from these, so proxies work.
    "PUBLIC_URL": "http://127.0.0.1:8000",
    "IMAGE_URL": "http://127.0.0.1:8182",
    # Empty means a SQLite file and a storage folder inside the instance folder.
    "DATABASE_URL": "",
    "STORAGE_URL": "",
    # Where ingest prepares pages before they are stored; empty: instance/staging.
    "STAGING_DIR": "",
    # s3:// storage: the service (http(s)://host:port), its credentials (give the secret
    # only through the environment), region, and whether a missing bucket is made. Local
    # copies of what is read go to S3_CACHE_DIR (empty: the system's temporary folder),
    # at most S3_CACHE_MAX_BYTES, trusted for S3_CACHE_REVALIDATE_SECONDS (0: always
    # checked with the service).
    "S3_ENDPOINT": "",
    "S3_ACCESS_KEY": "",
    "S3_SECRET_KEY": "",
    "S3_REGION": "",
    "S3_CREATE_BUCKET": False,
    "S3_CACHE_DIR": "",
    "S3_CACHE_MAX_BYTES": DEFAULT_CACHE_MAX_BYTES,
    "S3_CACHE_REVALIDATE_SECONDS": 0,
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
    # Change Discovery: activities per page of the ordered collection.
    "DISCOVERY_PAGE_SIZE": 100,
    # OAI-PMH: records per page of a list (each resumed by a token), and the addresses
    # Identify names (a list, or comma-separated; empty: webmaster@ the public host).
    "OAI_PAGE_SIZE": 100,
    "OAI_ADMIN_EMAIL": [],
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
    # /ready names the exception behind a failed check only to clients in these networks
    # (CIDRs, like HARVEST_ALLOW_NETWORKS); everyone else is told only what failed.
    "MONITOR_NETWORKS": [],
    # What one harvest may cost: seconds to connect and to wait for each answer, for the
    # whole run, and bytes per answer and pages per run.
    "HARVEST_CONNECT_TIMEOUT": 10.0,
    "HARVEST_READ_TIMEOUT": 60.0,
    "HARVEST_DEADLINE": 6 * 3600.0,
    "HARVEST_MAX_BYTES": 50 * 1024 * 1024,
    "HARVEST_MAX_PAGES": 100_000,
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
    # The job queue: empty, a SQLite file in the instance folder; or redis://host/0. Jobs
    # run in `tangthu worker`; QUEUE_EMBEDDED_WORKER runs them in a thread of this process
    # instead (empty: only when TESTING).
    "QUEUE_URL": "",
    "QUEUE_EMBEDDED_WORKER": "",
    # COUNTER usage: whether uses are recorded, and how many are written at once, at least
    # every USAGE_FLUSH_SECONDS.
    "USAGE_RECORDING": True,
    "USAGE_BATCH": 500,
    "USAGE_FLUSH_SECONDS": 5,
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
