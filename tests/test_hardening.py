"""Hardening: safe redirects, no 500 for huge ids, a strict CSP, and no weak secrets."""

from __future__ import annotations

import json
import re
import secrets
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.routing import IntegerConverter
from werkzeug.test import Client

import image_server
import repository
from image_server.secrecy import weakness
from repository.extensions import db
from repository.models import Collection, Item
from repository.web import safe_next
from tests.conftest import ARTIFACTS
from tests.helpers import csrf_token, sign_in

ROOT = Path(__file__).resolve().parents[1]

# --- 1. Redirects go only to paths on this site ----------------------------------------

# (what the query string says, as sent) -> each must send the browser home instead.
LEAVING = [
    "/%09/evil.example",  # browsers drop the tab: //evil.example
    "/%0a/evil.example",  # and newlines
    "/%0d%0a/evil.example",
    "/%0a",  # a newline in a Location header was a 500
    "/%7f/evil.example",
    "//evil.example",
    "///evil.example",
    "/%2F%2Fevil.example",  # decoded once by the query string: ///evil.example
    "%2F%2Fevil.example",
    "/%5Cevil.example",  # /\evil.example: browsers read the backslash as a slash
    "/%5C%5Cevil.example",
    "%5C%5Cevil.example",
    "/items/%5C",
    "https://evil.example",
    "https:/evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "",
    "/" + "a" * 2001,
]
STAYING = {
    "/items/abc%3Fx%3D1": "/items/abc?x=1",
    "/items/abc?x=1": "/items/abc?x=1",
    "/%252F%252Fevil.example": "/%2F%2Fevil.example",  # a path here, never a host
    "/search%3Fq%3D%C4%91%E1%BA%A1o": "/search?q=đạo",
    "/": "/",
}
READER, PASSWORD = "docgia", "mat-khau-doc-gia-du-dai"


@pytest.fixture
def reader(runner: FlaskCliRunner) -> str:
    result = runner.invoke(args=["create-user", "--reader", READER, "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    return READER


@pytest.mark.parametrize("target", LEAVING)
def test_changing_language_never_leaves_the_site(
    client: FlaskClient, reader: str, target: str
) -> None:
    sign_in(client, reader, PASSWORD)
    response = client.get(f"/lang/vi?next={target}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", LEAVING)
def test_signing_in_never_leaves_the_site(client: FlaskClient, reader: str, target: str) -> None:
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))
    response = client.post(
        f"/auth/login?next={target}",
        data={"username": reader, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    with client.session_transaction() as session:
        assert session.get("_user_id")  # signed in all the same


@pytest.mark.parametrize(("target", "location"), STAYING.items())
def test_paths_on_the_site_are_kept(
    client: FlaskClient, reader: str, target: str, location: str
) -> None:
    assert client.get(f"/lang/en?next={target}").headers["Location"] == quote(location, "/?=%")
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))
    response = client.post(
        f"/auth/login?next={target}",
        data={"username": reader, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == quote(location, "/?=%")


@pytest.mark.pure
@pytest.mark.parametrize(
    "target",
    ["/\t/evil.example", "/\n", "/\x00", "/ok\x7f", "/\\evil", "/x\\y", "//evil", "http://a/b"],
)
def test_safe_next_refuses_what_browsers_would_read_as_another_site(target: str) -> None:
    assert safe_next(target, "/home") == "/home"
    assert safe_next(None, "/home") == "/home"
    assert safe_next("/items/abc?x=1#p2", "/home") == "/items/abc?x=1#p2"


# --- 2. Numbers too big for the database are 404s, not 500s ------------------------------

HUGE = ["99999999999999999999", str(2**63), str(2**63 - 1)]


def integer_routes(app: Flask) -> dict[str, set[str]]:
    """Every rule with an <int:…> part, and its methods."""
    return {
        rule.rule: set(rule.methods or ())
        for rule in app.url_map.iter_rules()
        if any(isinstance(c, IntegerConverter) for c in rule._converters.values())
    }


def test_every_integer_route_answers_404_for_numbers_beyond_the_database(
    app: Flask, client: FlaskClient
) -> None:
    routes = integer_routes(app)
    assert {
        "/iiif/discovery/activity/<int:event_id>",
        "/iiif/discovery/page/<int:number>",
        "/sitemaps/items-<int:number>.xml",
    } <= set(routes)
    for rule, methods in routes.items():
        for number in HUGE:
            url = re.sub(r"<int(\([^)]*\))?:\w+>", number, rule)
            url = re.sub(r"<(?:\w+:)?\w+>", "x", url)  # any other part
            for method in sorted(methods - {"HEAD", "OPTIONS"}):
                status = client.open(url, method=method).status_code
                assert status != 500, (method, url)
                if method != "GET":
                    continue
                if rule.startswith("/admin/") and int(number) <= 2**63 - 1:
                    # a number the database can hold: the sign-in comes before any lookup
                    response = client.get(url)
                    assert response.status_code == 302, (url, status)
                    assert "/auth/login" in response.headers["Location"]
                else:
                    assert status == 404, (url, status)


def test_the_last_sitemap_page_is_the_last(client: FlaskClient) -> None:
    assert client.get("/sitemaps/items-1.xml").status_code == 200  # empty, but there
    assert client.get("/sitemaps/items-2.xml").status_code == 404


# --- 3. Content-Security-Policy -----------------------------------------------------------

NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]{16,})'")


def policy(response: Any) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    header = response.headers["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in directives, header
        directives[name] = sources
    return directives


def assert_strict_page(response: Any) -> dict[str, list[str]]:
    """The rules every HTML page keeps, viewer or not; its directives."""
    assert response.mimetype == "text/html"
    directives = policy(response)
    script = directives["script-src"]
    assert script[0] == "'self'" and NONCE.fullmatch(script[1]), script
    assert "'unsafe-inline'" not in script and "*" not in " ".join(script)
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    return directives


@pytest.fixture
def items(app: Flask) -> dict[str, str]:
    """A published record with no pages, and one shown from a partner's manifest."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with app.app_context():
        collection = Collection(slug="sach", title={"vi": "Sách"})
        plain = Item(collection=collection, title={"vi": "Sách trắng"}, status="published")
        remote = Item(
            collection=collection,
            title={"vi": "Sách ở nơi khác"},
            status="published",
            remote_manifest="https://partner.example.org/iiif/k1/manifest.json",
        )
        for item in (plain, remote):
            item.published_at = item.updated_at = now
        db.session.add_all([plain, remote])
        db.session.commit()
        return {"plain": plain.id, "remote": remote.id}


def test_every_page_has_a_strict_policy_with_a_fresh_nonce(
    app: Flask, client: FlaskClient, items: dict[str, str]
) -> None:
    image_origin = app.config["IMAGE_URL"].rstrip("/")
    pages = ["/", "/search?q=s", "/auth/login", f"/items/{items['plain']}", "/collections/sach"]
    nonces = set()
    for url in [*pages, "/nowhere"]:
        response = client.get(url)
        assert response.status_code == (404 if url == "/nowhere" else 200), url
        directives = assert_strict_page(response)
        assert directives["style-src"] == ["'self'"], url  # no inline style anywhere
        assert directives["img-src"] == ["'self'", "data:", "blob:", image_origin]
        assert directives["connect-src"] == ["'self'", image_origin]
        assert directives["frame-ancestors"] == ["'self'"]
        assert "sandbox" not in directives
        nonces.add(NONCE.search(response.headers["Content-Security-Policy"]).group(1))
    assert len(nonces) == len(pages) + 1


def test_a_record_from_a_partner_may_load_its_images(
    client: FlaskClient, items: dict[str, str]
) -> None:
    """Mirador on our item page shows the partner's manifest, with the partner's images."""
    directives = assert_strict_page(client.get(f"/items/{items['remote']}"))
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]  # Mirador's own styles
    assert {"https:", "http:"} <= set(directives["connect-src"]) & set(directives["img-src"])
    assert directives["frame-ancestors"] == ["'self'"] and "sandbox" not in directives


def test_non_pages_get_a_policy_that_allows_nothing(client: FlaskClient) -> None:
    for url in ("/sitemap.xml", "/robots.txt", "/iiif/discovery/collection", "/health"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_token_page_script_carries_the_nonce_and_any_viewer_may_frame_it(
    app: Flask, client: FlaskClient
) -> None:
    origin = app.config["PUBLIC_URL"]
    for service in ("/auth/iiif/token", "/auth/iiif2/token"):
        response = client.get(f"{service}?messageId=7&origin={origin}")
        directives = assert_strict_page(response)
        nonce = NONCE.fullmatch(directives["script-src"][1]).group(1)  # type: ignore[union-attr]
        scripts = re.findall(r"<script[^>]*>", response.get_data(as_text=True))
        assert scripts == [f'<script nonce="{nonce}">']
        assert directives["frame-ancestors"] == ["*"]


def embed(client: FlaskClient, page: str, manifest: str) -> dict[str, list[str]]:
    response = client.get(f"/viewer/{page}?manifest={quote(manifest, safe='')}")
    assert response.status_code == 200
    directives = assert_strict_page(response)
    assert directives["frame-ancestors"] == ["*"]  # partners frame it
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert {"https:", "http:"} <= set(directives["connect-src"]) & set(directives["img-src"])
    return directives


@pytest.mark.parametrize("page", ["embed", "uv"])
def test_a_foreign_manifest_is_shown_in_a_sandbox_without_our_origin(
    client: FlaskClient, page: str
) -> None:
    for manifest in (
        "https://partner.example.org/iiif/k1/manifest.json",
        "http://127.0.0.1:8001/iiif/x/manifest",  # another port is another origin
        "https://127.0.0.1:8000/iiif/x/manifest",  # and another scheme
    ):
        sandbox = embed(client, page, manifest)["sandbox"]
        assert sandbox == [
            "allow-scripts",
            "allow-popups",
            "allow-popups-to-escape-sandbox",
            "allow-forms",
            "allow-downloads",
        ]


@pytest.mark.parametrize("page", ["embed", "uv"])
def test_our_own_manifest_is_not_sandboxed(app: Flask, client: FlaskClient, page: str) -> None:
    directives = embed(client, page, f"{app.config['PUBLIC_URL']}/iiif/abc/manifest")
    assert "sandbox" not in directives


def test_no_viewer_may_evaluate_code(client: FlaskClient) -> None:
    """Their bundles hold `new Function`, but never reach it (checked in Chromium below)."""
    manifest = quote("https://partner.example.org/m.json", safe="")
    for page in ("embed", "uv"):
        script = policy(client.get(f"/viewer/{page}?manifest={manifest}"))["script-src"]
        assert len(script) == 2 and "'unsafe-eval'" not in script


def test_templates_have_no_inline_handlers_styles_or_unnonced_scripts() -> None:
    templates = [
        *(ROOT / "repository" / "templates").rglob("*.html"),
        *(ROOT / "viewer" / "templates").rglob("*.html"),
    ]
    assert len(templates) > 10
    for path in templates:
        text = path.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), path
        assert "javascript:" not in text.lower(), path
        assert not re.search(r"<style|\sstyle\s*=", text), path
        for tag in re.findall(r"<script\b[^>]*>", text):
            allowed = "src=" in tag or "nonce=" in tag or "application/ld+json" in tag
            assert allowed, (path, tag)


# --- 3b. In Chromium: the viewers still work, and nothing is refused ---------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic"]
TILE = re.compile(r"/iiif/3/[a-z0-9]+/\d+,\d+,\d+,\d+/\d*,\d*/0/default\.jpg$")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def watched_page(browser: Any) -> tuple[Any, list[str], list[str]]:
    """A new page, the CSP complaints it logs, and the tiles it loads."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    refused: list[str] = []
    tiles: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda error: refused.append(f"page error: {error}"))
    page.on("response", lambda r: tiles.append(r.url) if TILE.search(r.url) and r.ok else None)
    return page, refused, tiles


def wait_for_tiles(page: Any, tiles: list[str], count: int = 2) -> None:
    for _ in range(60):
        if len(tiles) >= count:
            return
        page.wait_for_timeout(500)


@pytest.mark.browser
@pytest.mark.parametrize("where", ["item page", "embed"])
def test_mirador_shows_tiles_under_the_policy(
    site: dict[str, str], browser: Any, where: str
) -> None:
    manifest = f"{site['web']}/iiif/{site['rtl_item']}/manifest"
    url = (
        f"{site['web']}/items/{site['rtl_item']}"
        if where == "item page"
        else f"{site['web']}/viewer/embed?manifest={quote(manifest, safe='')}"
    )
    page, refused, tiles = watched_page(browser)
    response = page.goto(url)
    assert "'nonce-" in response.headers["content-security-policy"]
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    wait_for_tiles(page, tiles)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"csp-mirador-{where.replace(' ', '-')}.png"))
    assert len(tiles) >= 2, tiles
    assert refused == []
    page.close()


@pytest.mark.browser
def test_a_sandboxed_embed_still_shows_a_partners_manifest(
    site: dict[str, str], browser: Any
) -> None:
    """Through "localhost" our own manifest is a foreign one: sandboxed, it still works,
    and the page's script cannot reach our cookies."""
    foreign = site["web"].replace("127.0.0.1", "localhost")
    manifest = f"{foreign}/iiif/{site['rtl_item']}/manifest"
    page, refused, tiles = watched_page(browser)
    response = page.goto(f"{site['web']}/viewer/embed?manifest={quote(manifest, safe='')}")
    assert "sandbox allow-scripts" in response.headers["content-security-policy"]
    page.wait_for_selector(".mirador-viewer", timeout=20_000)
    wait_for_tiles(page, tiles)
    assert len(tiles) >= 2, tiles
    assert page.evaluate("() => window.origin") == "null"
    assert page.evaluate("() => { try { return document.cookie } catch (e) { return 'no' } }") in (
        "",
        "no",
    )
    assert refused == []
    page.close()


@pytest.mark.browser
def test_universal_viewer_works_under_the_policy(site: dict[str, str], browser: Any) -> None:
    manifest = f"{site['web']}/iiif/{site['rtl_item']}/manifest"
    page, refused, _ = watched_page(browser)
    page.goto(f"{site['web']}/viewer/uv?manifest={quote(manifest, safe='')}")
    # A function, not an expression: Playwright evaluates expressions with eval().
    page.wait_for_function("() => document.querySelectorAll('.thumb').length === 6")
    assert refused == []
    page.close()


@pytest.mark.browser
def test_the_token_page_posts_its_message_under_the_policy(
    site: dict[str, str], browser: Any
) -> None:
    """The token service's one inline script runs (by its nonce) inside a viewer's frame."""
    page, refused, _ = watched_page(browser)
    page.goto(site["web"] + "/")
    message = page.evaluate(
        """(src) => new Promise((resolve) => {
             window.addEventListener("message", (event) => resolve(event.data));
             const frame = document.createElement("iframe");
             frame.src = src;
             document.body.appendChild(frame);
           })""",
        f"{site['web']}/auth/iiif/token?messageId=42&origin={quote(site['web'], safe='')}",
    )
    assert message["messageId"] == "42"
    assert refused == []
    page.close()


def test_the_served_pages_have_the_policy(site: dict[str, str]) -> None:
    """Under gunicorn too, as deployed: the item page and a foreign embed."""
    with urllib.request.urlopen(f"{site['web']}/items/{site['rtl_item']}") as response:
        header = response.headers["Content-Security-Policy"]
        body = response.read().decode()
    assert NONCE.search(header) and "sandbox" not in header
    assert f"{site['image']}" in header  # the image server's origin
    assert '<script type="application/ld+json">' in body


# --- 4. Placeholder and weak secrets stop start-up ---------------------------------------


def example_secrets() -> dict[str, str]:
    """The secrets deploy/env.example ships, which a deployment must replace."""
    found = {}
    for line in (ROOT / "deploy" / "env.example").read_text().splitlines():
        name, equals, value = line.partition("=")
        if equals and not line.lstrip().startswith("#"):
            value = value.strip().strip("'")
            if name == "TANGTHU_ACCESS_TOKEN_KEYS":
                found.update({f"token key {k}": v for k, v in json.loads(value).items()})
            elif re.search(r"PASSWORD|SECRET|_KEY$|ROOT_USER", name):
                found[name] = value
    return found


PLACEHOLDERS = example_secrets()
WEAK = {
    **PLACEHOLDERS,
    "short": "Zq8#k2Lm",
    "31 characters": secrets.token_urlsafe(48)[:31],
    "one letter": "a" * 48,
    "a run": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN",
    "repeated": "k3Jd9Qx" * 6,
    "your key": "your-key-goes-here-0123456789abcdefghijkl",
}


@pytest.mark.pure
def test_every_secret_in_env_example_is_refused() -> None:
    assert {"TANGTHU_SECRET_KEY", "token key k1", "TANGTHU_S3_SECRET_KEY"} <= set(PLACEHOLDERS)
    for name, value in WEAK.items():
        assert weakness(value) is not None, name


@pytest.mark.pure
def test_generated_secrets_are_accepted() -> None:
    for _ in range(200):
        for value in (secrets.token_urlsafe(48), secrets.token_hex(32), secrets.token_hex(16)):
            assert weakness(value) is None, value


def repository_config(tmp_path: Path, **config: Any) -> dict[str, Any]:
    return {"INSTANCE_PATH": str(tmp_path / "instance"), **config}


@pytest.mark.parametrize("name", sorted(WEAK))
def test_the_repository_refuses_a_weak_session_key(tmp_path: Path, name: str) -> None:
    value = WEAK[name]
    with pytest.raises(ValueError, match="TANGTHU_SECRET_KEY") as refused:
        repository.create_app(repository_config(tmp_path, SECRET_KEY=value))
    assert value not in str(refused.value)
    assert "secrets.token_urlsafe(48)" in str(refused.value)


@pytest.mark.parametrize("name", sorted(WEAK))
def test_both_apps_refuse_a_weak_access_token_key(tmp_path: Path, name: str) -> None:
    value = WEAK[name]
    keys = json.dumps({"k2": secrets.token_urlsafe(48), "k1": value})
    for start in (
        lambda: repository.create_app(repository_config(tmp_path, ACCESS_TOKEN_KEYS=keys)),
        lambda: image_server.create_app({"ACCESS_TOKEN_KEYS": keys, "VIPS_LOCKDOWN": False}),
    ):
        with pytest.raises(ValueError, match="TANGTHU_ACCESS_TOKEN_KEYS.*'k1'") as refused:
            start()
        assert value not in str(refused.value)


def test_the_image_server_reads_weak_keys_from_the_environment_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = PLACEHOLDERS["token key k1"]
    monkeypatch.setenv("TANGTHU_ACCESS_TOKEN_KEYS", json.dumps({"k1": value}))
    with pytest.raises(ValueError, match="TANGTHU_ACCESS_TOKEN_KEYS") as refused:
        image_server.create_app({"VIPS_LOCKDOWN": False})
    assert value not in str(refused.value)


def test_a_weak_single_sign_on_secret_is_refused(tmp_path: Path) -> None:
    sso = {
        "OIDC_ISSUER": "https://sso.example.vn/realms/lib",
        "OIDC_CLIENT_ID": "tangthu",
        "OIDC_CLIENT_SECRET": "change-me-client-secret-0123456789",
    }
    with pytest.raises(ValueError, match="TANGTHU_OIDC_CLIENT_SECRET"):
        repository.create_app(repository_config(tmp_path, **sso))
    # Without an issuer, single sign-on is off and the secret is not used.
    repository.create_app(repository_config(tmp_path, OIDC_CLIENT_SECRET="x"))


def test_strong_and_generated_secrets_start_both_apps(tmp_path: Path) -> None:
    keys = json.dumps({"k1": secrets.token_urlsafe(48)})
    app = repository.create_app(
        repository_config(tmp_path, SECRET_KEY=secrets.token_urlsafe(48), ACCESS_TOKEN_KEYS=keys)
    )
    assert app.config["ACCESS_TOKEN_KEYS"] == keys
    image_server.create_app({"ACCESS_TOKEN_KEYS": keys, "VIPS_LOCKDOWN": False})
    # No secrets given: the repository makes its own in the instance folder, and the image
    # server accepts them (`tangthu serve` hands them over).
    made = repository.create_app({"INSTANCE_PATH": str(tmp_path / "fresh")})
    assert (tmp_path / "fresh" / "secret_key").is_file()
    again = repository.create_app({"INSTANCE_PATH": str(tmp_path / "fresh")})
    assert again.config["SECRET_KEY"] == made.config["SECRET_KEY"]
    image_server.create_app(
        {"ACCESS_TOKEN_KEYS": made.config["ACCESS_TOKEN_KEYS"], "VIPS_LOCKDOWN": False}
    )


def test_testing_apps_may_use_short_secrets(tmp_path: Path) -> None:
    repository.create_app(repository_config(tmp_path, SECRET_KEY="x", TESTING=True))
    keys = {"k1": "o" * 40}
    server = image_server.create_app(
        {"ACCESS_TOKEN_KEYS": keys, "VIPS_LOCKDOWN": False, "TESTING": True}
    )
    assert Client(server).get("/health").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/iiif/%00/manifest", "/items/%00", "/items/%00/cite.ris", "/items/a%00b/record.json"],
)
def test_a_nul_character_in_the_path_is_refused_before_any_query(
    client: FlaskClient, path: str
) -> None:
    """PostgreSQL refuses NUL in any string, which gave a 500 (seen in the PostgreSQL lane
    on /iiif/%00/manifest): a 404 up front, on both databases."""
    response = client.get(path)
    assert response.status_code == 404
    assert b"Traceback" not in response.data
