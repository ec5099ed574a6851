"""The deployment files in deploy/: nginx (checked and run), compose, systemd, gunicorn,
granian and the Dockerfile.

The nginx tests need Debian's nginx (`apt-get install nginx`) and openssl.
"""

from __future__ import annotations

import configparser
import http.client
import json
import os
import re
import runpy
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
NGINX_DIR = DEPLOY / "nginx"
REPOSITORY_HOST = "thuvien.example.vn"
IMAGE_HOST = "images.thuvien.example.vn"


# --- nginx -----------------------------------------------------------------------------


def nginx_binary() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "nginx is not installed, so deploy/nginx cannot be checked: "
        "apt-get install -y nginx (Debian's package; `make test` installs it)"
    )


def make_certificate(folder: Path) -> None:
    """A throwaway self-signed certificate where the config expects tangthu.crt/.key."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"]
        + [
            "-days",
            "1",
            "-keyout",
            str(folder / "tangthu.key"),
            "-out",
            str(folder / "tangthu.crt"),
        ],
        check=True,
        capture_output=True,
    )


def uncommented(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def nginx_tree(tmp: Path, extra: dict[str, str] | None = None) -> Path:
    """deploy/nginx laid out as the compose file mounts it, every path moved into tmp.

    Returns the conf folder: conf/tangthu/ holds deploy/nginx, conf/snippets/ its
    snippets, as /etc/nginx/tangthu and /etc/nginx/snippets in the container.
    """
    conf = tmp / "conf"
    make_certificate(tmp / "tls")
    for sub in ("cache", "logs", "srv"):
        (tmp / sub).mkdir()
    moves = {
        "/var/cache/nginx/": f"{tmp}/cache/",
        "/var/log/nginx/": f"{tmp}/logs/",
        "/etc/nginx/tls/": f"{tmp}/tls/",
        "/srv/tangthu": f"{tmp}/srv",
        "/var/www/acme": f"{tmp}/acme",
        "/var/run/nginx.pid": f"{tmp}/nginx.pid",
        **(extra or {}),
    }
    used: set[str] = set()
    for source in NGINX_DIR.rglob("*.conf"):
        text = source.read_text()
        for old, new in moves.items():
            if old in text:
                used.add(old)
                text = text.replace(old, new)
        text = re.sub(r"^user\s+\S+;", "user root;" if os.geteuid() == 0 else "", text, flags=re.M)
        left = re.findall(r"/(?:var|etc|srv|run)/\S*", uncommented(text).replace(str(tmp), ""))
        assert not left, f"{source.name}: paths the test does not move: {left}"
        target = conf / "tangthu" / source.relative_to(NGINX_DIR)
        if source.parent.name == "snippets":
            target = conf / "snippets" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    assert {"/var/cache/nginx/", "/etc/nginx/tls/"} <= used, "the site's cache or TLS moved"
    mime = Path("/etc/nginx/mime.types")
    if mime.exists():
        shutil.copy(mime, conf / "mime.types")
    else:
        (conf / "mime.types").write_text("types { application/json json; text/html html; }\n")
    return conf


def site_main_config(tmp: Path, conf: Path, upstreams: str) -> Path:
    """An nginx.conf like Debian's that includes the site, as deploy/README.md says."""
    main = conf / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        f"{user}worker_processes 1;\npid {tmp}/nginx.pid;\n"
        "events { worker_connections 128; }\n"
        "http {\n    include mime.types;\n    default_type application/octet-stream;\n"
        f"    access_log {tmp}/logs/access.log;\n"
        f"    include tangthu/{upstreams};\n    include tangthu/tangthu.conf;\n}}\n"
    )
    return main


def nginx_check(tmp: Path, main: Path) -> None:
    result = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp), "-c", str(main), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert "[emerg]" not in result.stderr, result.stderr


def test_site_config_passes_nginx_t(tmp_path: Path) -> None:
    conf = nginx_tree(tmp_path)
    nginx_check(tmp_path, site_main_config(tmp_path, conf, "upstreams.conf"))


def test_compose_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    # The compose service names only resolve inside compose.
    conf = nginx_tree(
        tmp_path, {"repository:8000": "127.0.0.1:8000", "image:8182": "127.0.0.1:8182"}
    )
    shutil.copy(conf / "tangthu" / "nginx.conf", conf / "nginx.conf")
    nginx_check(tmp_path, conf / "nginx.conf")


def test_site_never_ignores_cache_control() -> None:
    site = uncommented((NGINX_DIR / "tangthu.conf").read_text())
    assert "proxy_ignore_headers" not in site
    assert site.count("proxy_no_cache") == site.count("proxy_cache ") == 2
    assert "proxy_cache_bypass" in site and "$http_authorization" in site


# --- nginx in front of two stand-in apps ------------------------------------------------


@dataclass
class Upstream:
    """A stand-in app: answers by path, and remembers every request."""

    kind: str
    seen: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tightened: set[str] = field(default_factory=set)  # image ids no longer open

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for _, seen_path, _, _ in self.seen if seen_path == path)

    def last(self, path: str) -> dict[str, str]:
        with self.lock:
            return [headers for _, seen_path, headers, _ in self.seen if seen_path == path][-1]

    def answer(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        n = self.count(path)
        body = f"{self.kind} {path} #{n}\n".encode()
        if self.kind == "image":
            ident = path.split("/")[3] if path.count("/") >= 3 else ""
            if ident.startswith("tighten"):  # as the image server answers (CACHE_MAX_AGE...)
                if ident in self.tightened:
                    return 401, [("Cache-Control", "no-store")], b"not open now\n"
                caching = [
                    ("Cache-Control", "public, max-age=86400, s-maxage=1"),
                    ("ETag", f'"{ident}-open"'),
                ]
                return 200, [("Content-Type", "image/jpeg"), *caching], body
            caching = {
                "open": [("Cache-Control", "public, max-age=60")],
                "restricted": [
                    ("Cache-Control", "private, max-age=600"),
                    ("Vary", "Cookie, Authorization"),
                ],
                "nostore": [("Cache-Control", "no-store")],
                "cookie": [("Cache-Control", "public, max-age=60"), ("Set-Cookie", "a=b")],
            }[ident.split("-")[0]]
            return 200, [("Content-Type", "application/json"), *caching], body
        if path.endswith("/manifest"):
            public = not path.split("/")[-2].startswith("draft")
            caching = "public, max-age=300" if public else "private, no-store"
            document = json.dumps({"id": path, "n": n, "padding": "x" * 4000}).encode()
            headers = [("Content-Type", "application/ld+json"), ("Cache-Control", caching)]
            return 200, headers, document
        return 200, [("Content-Type", "text/html; charset=utf-8")], body

    def serve(self) -> tuple[ThreadingHTTPServer, int]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = len(self.rfile.read(length)) if length else 0
                with upstream.lock:
                    upstream.seen.append((method, self.path, dict(self.headers), received))
                status, headers, body = upstream.answer(self.path)
                self.send_response(status)
                for name, value in [*headers, ("Content-Length", str(len(body)))]:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self.handle_one("GET")

            def do_POST(self) -> None:
                self.handle_one("POST")

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, int(server.server_address[1])


@dataclass
class Site:
    https: int
    http: int
    repository: Upstream
    image: Upstream

    def get(
        self,
        host: str,
        path: str,
        headers: dict[str, str] | None = None,
        method: str = "GET",
        body: bytes | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.https, context=context, timeout=10
        )
        try:
            connection.request(method, path, body=body, headers={"Host": host, **(headers or {})})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def image_get(self, path: str, **headers: str) -> tuple[str, bytes]:
        status, response_headers, body = self.get(IMAGE_HOST, path, headers)
        assert status == 200
        return response_headers.get("X-Cache-Status", ""), body

    def manifest_get(self, path: str, **headers: str) -> tuple[str, bytes]:
        status, response_headers, body = self.get(REPOSITORY_HOST, path, headers)
        assert status == 200
        return response_headers.get("X-Cache-Status", ""), body


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited early:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nginx did not listen on {port}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real site config in real nginx, on free ports, before two stand-in apps."""
    nginx = nginx_binary()
    tmp = tmp_path_factory.mktemp("nginx")
    repository, image = Upstream("repository"), Upstream("image")
    (repository_server, repository_port), (image_server, image_port) = (
        repository.serve(),
        image.serve(),
    )
    https, plain = free_port(), free_port()
    conf = nginx_tree(
        tmp,
        {
            "127.0.0.1:8000": f"127.0.0.1:{repository_port}",
            "127.0.0.1:8182": f"127.0.0.1:{image_port}",
        },
    )
    for path in (conf / "tangthu").glob("*.conf"):
        text = re.sub(r"\blisten 443\b", f"listen 127.0.0.1:{https}", path.read_text())
        path.write_text(re.sub(r"\blisten 80\b", f"listen 127.0.0.1:{plain}", text))
    main = site_main_config(tmp, conf, "upstreams.conf")
    log = tmp / "nginx.out"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [nginx, "-p", str(tmp), "-c", str(main), "-e", "stderr", "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(https, process, log)
        yield Site(https, plain, repository, image)
    finally:
        stop_process(process)
        try:  # workers left behind by a master that had to be killed
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        repository_server.shutdown()
        image_server.shutdown()


def test_open_tiles_are_cached_and_proxied_with_forwarded_headers(site: Site) -> None:
    tile = "/iiif/3/open-a/0,0,256,256/256,/0/default.jpg"
    first = site.image_get(tile, **{"X-Request-Id": "test-request-0001"})
    second = site.image_get(tile)
    assert (first[0], second[0]) == ("MISS", "HIT")
    assert second[1] == first[1] and site.image.count(tile) == 1
    seen = site.image.last(tile)
    assert seen["X-Request-Id"] == "test-request-0001"
    assert seen["X-Forwarded-Proto"] == "https"
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["Host"] == IMAGE_HOST


def test_tightened_images_leave_the_cache_within_the_shared_time(site: Site) -> None:
    """An open tile is cached for its s-maxage, not the browsers' day; when it expires,
    nginx asks again, and once the image is no longer open the refusal comes through:
    no stale copy, not even to the request that finds it expired."""
    tile = "/iiif/3/tighten-a/0,0,256,256/256,/0/default.jpg"
    assert site.image_get(tile)[0] == "MISS"
    assert site.image_get(tile)[0] == "HIT"
    site.image.tightened.add("tighten-a")
    # nginx counts whole seconds and expires a copy once its time is strictly past.
    time.sleep(2.5)
    for _ in range(3):
        status, headers, _body = site.get(IMAGE_HOST, tile)
        assert status == 401, headers.get("X-Cache-Status")
    assert site.image.count(tile) == 4


@pytest.mark.parametrize("ident", ["restricted-a", "nostore-a", "cookie-a"])
def test_private_no_store_and_set_cookie_answers_are_never_cached(site: Site, ident: str) -> None:
    path = f"/iiif/3/{ident}/info.json"
    statuses = [site.image_get(path)[0] for _ in range(3)]
    assert "HIT" not in statuses
    assert site.image.count(path) == 3


@pytest.mark.parametrize(
    "credentials",
    [{"Cookie": "lang=vi; tangthu_access=eyJ.token"}, {"Authorization": "Bearer eyJ.token"}],
)
def test_requests_with_credentials_neither_read_nor_fill_the_cache(
    site: Site, credentials: dict[str, str]
) -> None:
    path = f"/iiif/3/open-{sorted(credentials)[0].lower()}/info.json"
    assert site.image_get(path, **credentials)[0] == "BYPASS"
    assert site.image_get(path)[0] == "MISS"  # the credentialed answer was not stored
    assert site.image_get(path)[0] == "HIT"
    assert site.image_get(path, **credentials)[0] == "BYPASS"  # nor is the cache read
    assert site.image.count(path) == 3


def test_unrelated_cookies_keep_the_cache(site: Site) -> None:
    path = "/iiif/3/open-c/full/max/0/default.jpg"
    site.image_get(path)
    assert site.image_get(path, Cookie="lang=vi; xtangthu_access=1")[0] == "HIT"


def test_probe_is_never_cached(site: Site) -> None:
    path = "/iiif/3/open-d/probe"
    site.image_get(path)
    site.image_get(path)
    assert site.image.count(path) == 2


def test_public_manifests_are_cached_gzipped_but_not_for_signed_in_users(site: Site) -> None:
    path = "/iiif/item-a/manifest"
    assert site.manifest_get(path)[0] == "MISS"
    assert site.manifest_get(path)[0] == "HIT"
    assert site.manifest_get(path, Cookie="session=abc")[0] == "BYPASS"
    assert site.manifest_get(path, Cookie="remember_token=abc")[0] == "BYPASS"
    assert site.repository.count(path) == 3
    _, headers, _ = site.get(REPOSITORY_HOST, path, {"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"

    draft = "/iiif/2/draft-a/manifest"
    assert "HIT" not in [site.manifest_get(draft)[0] for _ in range(2)]
    assert site.repository.count(draft) == 2


def test_pages_are_not_cached_and_carry_security_headers(site: Site) -> None:
    for _ in range(2):
        status, headers, _ = site.get(REPOSITORY_HOST, "/collections/sach")
        assert status == 200 and "X-Cache-Status" not in headers
    assert site.repository.count("/collections/sach") == 2
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"])
    _, embed_headers, _ = site.get(REPOSITORY_HOST, "/viewer/embed?manifest=x")
    assert "X-Frame-Options" not in embed_headers  # partners frame the embed page


def test_metrics_stay_private(site: Site) -> None:
    for host, upstream in ((REPOSITORY_HOST, site.repository), (IMAGE_HOST, site.image)):
        status, _, _ = site.get(host, "/metrics")
        assert status == 404 and upstream.count("/metrics") == 0


def test_uploads_up_to_the_limit_reach_admin_only(site: Site) -> None:
    body = b"\0" * (20 * 1024 * 1024)
    status, _, answer = site.get(REPOSITORY_HOST, "/admin/items/x/pages", method="POST", body=body)
    assert status == 200, answer
    assert site.repository.seen[-1][3] == len(body)
    status, _, _ = site.get(REPOSITORY_HOST, "/auth/login", method="POST", body=body)
    assert status == 413


def test_plain_http_redirects_to_https(site: Site) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", site.http, timeout=5)
    connection.request("GET", "/items/abc?x=1", headers={"Host": REPOSITORY_HOST})
    response = connection.getresponse()
    assert response.status == 301
    assert response.headers["Location"] == f"https://{REPOSITORY_HOST}/items/abc?x=1"
    connection.close()


# --- compose and env.example ------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_every_yaml_file_parses() -> None:
    files = [*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]
    assert DEPLOY / "compose.yaml" in files
    for path in files:
        assert load_yaml(path), path


def test_compose_has_the_services_and_wiring() -> None:
    services = load_yaml(DEPLOY / "compose.yaml")["services"]
    assert {"postgres", "minio", "minio-init", "opensearch", "repository", "image", "nginx"} <= set(
        services
    )
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["minio"]["image"].startswith("minio/minio")
    assert services["minio-init"]["image"].startswith("minio/mc")
    assert services["opensearch"]["image"].startswith("opensearchproject/opensearch:2")
    assert services["opensearch"]["environment"]["plugins.security.disabled"] == "true"
    for name in ("postgres", "minio", "opensearch", "repository", "image"):
        assert "healthcheck" in services[name], name

    repository, image = services["repository"]["environment"], services["image"]["environment"]
    assert repository["TANGTHU_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert repository["TANGTHU_SEARCH_URL"] == "http://opensearch:9200"
    for env in (repository, image):
        assert env["TANGTHU_STORAGE_URL"] == "s3://tangthu/"
        assert env["TANGTHU_S3_ENDPOINT"] == "http://minio:9000"
    assert repository["TANGTHU_ACCESS_TOKEN_KEYS"] == image["TANGTHU_ACCESS_TOKEN_KEYS"]
    assert "TANGTHU_DATABASE_URL" not in image  # the image server has no database

    for volume in services["nginx"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./nginx"):
            assert (DEPLOY / source).exists(), source
    assert "granian_image.sh" in " ".join(services["image"]["command"])


def test_compose_variables_have_placeholders_and_no_secrets_are_written_in() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    example = env_example()
    assert used and used <= set(example), f"missing from env.example: {used - set(example)}"

    secretive = re.compile(r"PASSWORD|SECRET|_KEYS?$|TOKEN|ROOT_USER")
    for name, service in load_yaml(DEPLOY / "compose.yaml")["services"].items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if secretive.search(key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), f"{name}: {key} is written in"
            credentials = re.search(r"://[^/@:]+:([^@]+)@", value)
            if credentials:
                assert credentials.group(1).startswith("${"), f"{name}: password in {key}"

    for key, value in example.items():
        if secretive.search(key):
            assert "change" in value.lower(), f"env.example: {key} must be a placeholder"


# --- systemd ----------------------------------------------------------------------------


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_systemd_units_parse_and_are_hardened() -> None:
    units = {path.name: path for path in (DEPLOY / "systemd").iterdir()}
    assert {
        "tangthu-repository.service",
        "tangthu-image.service",
        "tangthu-ocr.service",
        "tangthu-ocr.timer",
        "tangthu-backup.service",
        "tangthu-backup.timer",
    } <= set(units)
    for name, path in units.items():
        parsed = unit(path)
        if name.endswith(".timer"):
            assert parsed["Timer"], name
            assert name.replace(".timer", ".service") in units
            continue
        service = parsed["Service"]
        assert service["ExecStart"] and service["User"] == "tangthu", name
        assert service["EnvironmentFile"] == "/etc/tangthu/env", name
        for setting, value in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("PrivateTmp", "yes"),
        ]:
            assert service.get(setting) == value, f"{name}: {setting}"
        assert service.get("ReadWritePaths"), name
    for name in ("tangthu-repository.service", "tangthu-image.service"):
        assert unit(units[name])["Service"]["Restart"] == "on-failure"
    assert "tangthu ocr" in unit(units["tangthu-ocr.service"])["Service"]["ExecStart"]
    assert "tangthu backup" in unit(units["tangthu-backup.service"])["Service"]["ExecStart"]
    assert "OnCalendar" in unit(units["tangthu-backup.timer"])["Timer"]
    for name in ("tangthu-repository.service", "tangthu-ocr.service", "tangthu-backup.service"):
        assert "/var/lib/tangthu" in unit(units[name])["Service"]["ReadWritePaths"]


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The units name /opt/tangthu; point them at this checkout so the commands exist.
    for path in (DEPLOY / "systemd").iterdir():
        text = path.read_text().replace("/opt/tangthu/.venv/", f"{sys.prefix}/")
        (tmp_path / path.name).write_text(text.replace("/opt/tangthu", str(ROOT)))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "Unknown" not in result.stderr, result.stderr


# --- gunicorn and granian ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["gunicorn_repository.py", "gunicorn_image.py"])
def test_gunicorn_configs_load_and_every_setting_is_known(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gunicorn.config import Config

    settings = {
        key: value
        for key, value in runpy.run_path(str(DEPLOY / name)).items()
        if not key.startswith("_") and not callable(value) and not isinstance(value, type(os))
    }
    assert {"bind", "workers", "wsgi_app", "max_requests", "forwarded_allow_ips"} <= set(settings)
    assert settings["workers"] >= 1 and settings["preload_app"] is True
    assert "x-request-id" in settings["access_log_format"]
    config = Config()
    for key, value in settings.items():
        assert key in config.settings, f"{name}: gunicorn has no setting {key!r}"
        if value is not None:
            config.set(key, value)  # gunicorn's own validation

    prefix = "TANGTHU_REPOSITORY" if "repository" in name else "TANGTHU_IMAGE"
    monkeypatch.setenv(f"{prefix}_BIND", "0.0.0.0:9999")
    monkeypatch.setenv(f"{prefix}_WORKERS", "3")
    monkeypatch.setenv("TANGTHU_PRELOAD", "0")
    again = runpy.run_path(str(DEPLOY / name))
    assert (again["bind"], again["workers"], again["preload_app"]) == ("0.0.0.0:9999", 3, False)


def test_granian_script_serves_the_image_server(tmp_path: Path) -> None:
    script = DEPLOY / "granian_image.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["sh", "-n", str(script)], check=True)
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "TANGTHU_IMAGE_BIND": f"127.0.0.1:{port}",
        "TANGTHU_IMAGE_WORKERS": "1",
        "TANGTHU_STORAGE_URL": tmp_path.as_uri(),
    }
    log = tmp_path / "granian.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(script)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/health", headers={"X-Request-Id": "rid-from-nginx-42"}
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(request, timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        deadline = time.monotonic() + 5
        while "rid=rid-from-nginx-42" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "rid=rid-from-nginx-42" in log.read_text()
    finally:
        stop_process(process)


# --- Dockerfile -------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_builds_a_non_root_image() -> None:
    instructions = dockerfile_instructions()
    froms = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert froms, "no FROM"
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim-bookworm") in instructions
    final = instructions[froms[-1] :]
    assert final[0][1].split()[0] == "${PYTHON_IMAGE}"
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}

    final_runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    build_runs = " ".join(rest for keyword, rest in instructions[: froms[-1]] if keyword == "RUN")
    assert "tesseract-ocr-vie" in final_runs
    assert "nodejs" not in final_runs and "npm" not in final_runs
    assert "npm ci" in build_runs and "pip install ." in build_runs
    cmd = [rest for keyword, rest in final if keyword == "CMD"][-1]
    assert "gunicorn" in cmd and "gunicorn_repository.py" in cmd

    for keyword, rest in instructions:
        if keyword == "COPY" and "--from=" not in rest:
            sources = [word for word in rest.split() if not word.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text()
    for pattern in ("**/node_modules", ".venv", "deploy/.env"):
        assert pattern in ignored
