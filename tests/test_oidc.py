"""Single sign-on against a real OpenID Connect provider running on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from repository import create_app
from repository.auth import oidc  # registers the OIDC routes on the auth blueprint
from repository.extensions import db
from repository.models import AuditEvent, User
from repository.services.accounts import NewUser, create_user
from tests.oidc_provider import FAULTS, Person, Provider, serve
from tests.servers import free_port

CLIENT_ID = "tang-thu"
CLIENT_SECRET = "bi-mat-" + secrets.token_urlsafe(16)
PUBLIC_URL = "http://localhost"
CALLBACK = f"{PUBLIC_URL}/auth/oidc/callback"
ROLE_MAP = {"thu-thu": "curator", "quan-tri": "admin"}

LAN = Person(
    "f3a1", "thuthu.lan", "lan@example.vn", ("nhan-vien", "thu-thu"), ("han-nom", "/sac-phong")
)
BINH = Person("0b7c", "ban.doc.binh", "binh@example.vn", ("nhan-vien",), ())


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with serve(Provider(CLIENT_ID, CLIENT_SECRET, CALLBACK)) as running:
        running.add(LAN)
        running.add(BINH)
        yield running


@pytest.fixture(autouse=True)
def fresh_provider(provider: Provider) -> Iterator[None]:
    """Each test starts with the provider's people as defined above and no faults."""
    yield
    provider.fault = None
    provider.signed_in = None
    provider.add(LAN)
    provider.add(BINH)


def sso_config(app_config: dict[str, Any], issuer: str) -> dict[str, Any]:
    return {
        **app_config,
        "PUBLIC_URL": PUBLIC_URL,
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_ROLE_MAP": json.dumps(ROLE_MAP),  # as TANGTHU_OIDC_ROLE_MAP would give it
    }


def build(config: dict[str, Any]) -> Flask:
    app = create_app(config)
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def sso_app(app_config: dict[str, Any], provider: Provider) -> Flask:
    return build(sso_config(app_config, provider.issuer))


def english_client(app: Flask) -> FlaskClient:
    """A browser that asks for English, so the messages checked are the source texts."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def browser(sso_app: Flask) -> FlaskClient:
    return english_client(sso_app)


def to_provider(browser: FlaskClient, next_path: str = "/admin/") -> str:
    """Start at our login route; return the provider's authorization URL it sends us to."""
    start = browser.get("/auth/oidc/login", query_string={"next": next_path})
    assert start.status_code == 302, start.text
    return start.location


def provider_answer(authorize_url: str) -> str:
    """What the provider redirects the browser to: our callback, as path and query."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    return f"{back.path}?{back.query}"


def sign_in(
    browser: FlaskClient, provider: Provider, who: Person, next_path: str = "/admin/"
) -> TestResponse:
    provider.signed_in = who.sub
    return browser.get(provider_answer(to_provider(browser, next_path)))


@dataclass(frozen=True)
class Account:
    """A user row as it stands in the database, read outside any request."""

    id: int
    role: str
    password_hash: str
    sso_subject: str | None
    groups: list[str]


def account(app: Flask, username: str) -> Account | None:
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(username=username)).scalar()
        if user is None:
            return None
        groups = sorted(group.name for group in user.groups)
        return Account(user.id, user.role, user.password_hash, user.sso_subject, groups)


def users(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.execute(db.select(User.username)).scalars())


def audit(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        query = db.select(AuditEvent).filter_by(action=action)
        return list(db.session.execute(query).scalars())


def refusal_page(browser: FlaskClient, response: TestResponse) -> str:
    """A refusal goes back to the password form, with the reason flashed there."""
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/auth/login"
    page = browser.get(response.location)
    assert page.status_code == 200
    return page.text


def test_authorization_request_uses_pkce_state_and_nonce(
    browser: FlaskClient, provider: Provider
) -> None:
    url = urlsplit(to_provider(browser))
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}".startswith(provider.issuer)
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    assert set(query["scope"].split()) == {"openid", "profile", "email"}


def test_curator_signs_in_with_mapped_role_and_groups(
    sso_app: Flask, browser: FlaskClient, provider: Provider
) -> None:
    done = sign_in(browser, provider, LAN, next_path="/admin/")
    assert done.status_code == 302 and done.location == "/admin/"
    assert any(c.startswith("tangthu_access=") for c in done.headers.getlist("Set-Cookie"))
    user = account(sso_app, "thuthu.lan")
    assert user is not None
    assert user.role == "curator" and user.password_hash == ""
    assert user.sso_subject == f"{provider.issuer}|{LAN.sub}"
    assert user.groups == ["han-nom", "sac-phong"]
    assert browser.get("/admin/").status_code == 200
    logins = audit(sso_app, "login")
    assert [(e.actor, e.detail) for e in logins] == [("thuthu.lan", "oidc")]
    assert len(audit(sso_app, "sso-account-created")) == 1


def test_reader_is_signed_in_but_kept_out_of_the_admin(
    sso_app: Flask, browser: FlaskClient, provider: Provider
) -> None:
    done = sign_in(browser, provider, BINH, next_path="//evil.example/steal")
    assert done.status_code == 302 and done.location == "/"  # only same-site targets
    user = account(sso_app, "ban.doc.binh")
    assert user is not None and user.role == "reader"
    assert user.groups == []
    assert browser.get("/admin/").status_code == 403  # signed in, not staff


def test_second_sign_in_updates_role_and_groups(
    sso_app: Flask, browser: FlaskClient, provider: Provider
) -> None:
    sign_in(browser, provider, LAN)
    first = account(sso_app, "thuthu.lan")
    promoted = Person(LAN.sub, "thuthu.lan", LAN.email, ("thu-thu", "quan-tri"), ("dia-chi",))
    provider.add(promoted)
    other = sso_app.test_client()
    assert sign_in(other, provider, promoted).status_code == 302
    second = account(sso_app, "thuthu.lan")
    assert first is not None and second is not None and second.id == first.id
    assert second.role == "admin"  # the highest mapped role wins
    assert second.groups == ["dia-chi"]
    assert users(sso_app) == ["thuthu.lan"]
    [update] = audit(sso_app, "sso-account-updated")
    assert "curator → admin" in update.detail
    # The first browser's session carried the old role and groups: it has ended.
    assert browser.get("/admin/").status_code in (302, 401)
    assert other.get("/admin/").status_code == 200
    demoted = Person(LAN.sub, "thuthu.lan", LAN.email, (), ())
    provider.add(demoted)
    sign_in(sso_app.test_client(), provider, demoted)
    third = account(sso_app, "thuthu.lan")
    assert third is not None and third.role == "reader"
    assert third.groups == []


def test_local_account_with_the_same_name_is_not_taken_over(
    sso_app: Flask, browser: FlaskClient, provider: Provider
) -> None:
    with sso_app.app_context():
        create_user(NewUser("thuthu.lan", "mat-khau-rat-dai-1234", "admin"))
    assert sign_in(browser, provider, LAN).status_code == 302
    local = account(sso_app, "thuthu.lan")
    assert local is not None and local.sso_subject is None and local.role == "admin"
    [created] = [name for name in users(sso_app) if name != "thuthu.lan"]
    assert created.startswith("thuthu.lan-") and len(created) == len("thuthu.lan-") + 6
    sso = account(sso_app, created)
    assert sso is not None and sso.role == "curator"
    assert [e.actor for e in audit(sso_app, "login")] == [created]


WHY = {
    "forged": "BadSignatureError",
    "expired": "ExpiredTokenError",
    "wrong-audience": "Invalid claim: 'aud'",
    "wrong-issuer": "Invalid claim: 'iss'",
    "wrong-nonce": "Invalid claim: 'nonce'",
    "no-id-token": "no ID token",
}


@pytest.mark.parametrize("fault", FAULTS)
def test_bad_id_token_is_refused(
    fault: str,
    sso_app: Flask,
    browser: FlaskClient,
    provider: Provider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider.fault = fault
    with caplog.at_level(logging.DEBUG):
        done = sign_in(browser, provider, LAN)
    page = refusal_page(browser, done)
    assert "could not be verified, so you were not signed in" in page
    assert users(sso_app) == [] and audit(sso_app, "login") == []
    assert browser.get("/admin/").status_code == 302  # still signed out
    assert "single sign-on refused" in caplog.text and WHY[fault] in caplog.text
    assert CLIENT_SECRET not in caplog.text and CLIENT_SECRET not in page


def test_wrong_client_secret_is_refused(
    app_config: dict[str, Any], provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-" + CLIENT_SECRET
    app = build({**sso_config(app_config, provider.issuer), "OIDC_CLIENT_SECRET": wrong})
    client = english_client(app)
    with caplog.at_level(logging.DEBUG):
        done = sign_in(client, provider, LAN)
    assert "could not be verified" in refusal_page(client, done)
    assert "invalid_client" in caplog.text and wrong not in caplog.text
    assert users(app) == []


def test_wrong_state_or_another_browser_is_refused(
    sso_app: Flask, browser: FlaskClient, provider: Provider
) -> None:
    provider.signed_in = LAN.sub
    callback = provider_answer(to_provider(browser))
    forged = callback.replace("state=", "state=x")
    page = refusal_page(browser, browser.get(forged))
    assert "expired or began in another window" in page
    assert users(sso_app) == []
    # A callback carried to another browser has no state there either.
    stranger = english_client(sso_app)
    assert "expired or began" in refusal_page(stranger, stranger.get(callback))
    assert users(sso_app) == []


def test_replayed_callback_after_sign_in_is_refused(
    sso_app: Flask, browser: FlaskClient, provider: Provider
) -> None:
    provider.signed_in = LAN.sub
    callback = provider_answer(to_provider(browser))
    assert browser.get(callback).location == "/admin/"
    assert "expired or began" in refusal_page(browser, browser.get(callback))
    assert len(audit(sso_app, "login")) == 1


def test_provider_error_is_shown_plainly(
    sso_app: Flask, browser: FlaskClient, provider: Provider
) -> None:
    provider.signed_in = None  # the provider answers error=login_required
    done = browser.get(provider_answer(to_provider(browser)))
    page = refusal_page(browser, done)
    assert "did not sign you in" in page and "Traceback" not in page
    assert parse_qs(urlsplit(done.location).query) == {"next": ["/admin/"]}
    assert users(sso_app) == []


def test_unreachable_provider_is_refused_plainly(app_config: dict[str, Any]) -> None:
    app = build(sso_config(app_config, f"http://127.0.0.1:{free_port()}/realms/gone"))
    client = english_client(app)
    page = refusal_page(client, client.get("/auth/oidc/login?next=/admin/"))
    assert "Single sign-on is not available right now" in page


def test_discovery_must_name_the_configured_issuer(
    app_config: dict[str, Any], provider: Provider
) -> None:
    app = build(sso_config(app_config, provider.issuer + "/"))  # not what discovery says
    client = english_client(app)
    assert "not available right now" in refusal_page(client, client.get("/auth/oidc/login"))


def test_login_page_offers_single_sign_on_keeping_next(browser: FlaskClient) -> None:
    page = browser.get("/auth/login?next=/admin/").text
    assert 'href="/auth/oidc/login?next=/admin/"' in page
    assert "Single sign-on" in page
    vietnamese = browser.get("/auth/login", headers={"Accept-Language": "vi"}).text
    assert "Đăng nhập một lần" in vietnamese


def test_routes_404_when_not_configured(client: FlaskClient) -> None:
    assert client.get("/auth/oidc/login").status_code == 404
    assert client.get("/auth/oidc/callback?code=x&state=y").status_code == 404
    assert "/auth/oidc/login" not in client.get("/auth/login").text


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"OIDC_ISSUER": "http://sso.example.vn/realms/lib"}, "https"),
        ({"OIDC_ISSUER": "ftp://127.0.0.1/realms/lib"}, "https"),
        ({"OIDC_CLIENT_SECRET": ""}, "OIDC_CLIENT_SECRET"),
        ({"OIDC_ROLE_MAP": {"thu-thu": "superuser"}}, "unknown roles"),
        ({"OIDC_ROLE_MAP": "[1, 2]"}, "JSON object"),
        ({"OIDC_SCOPE": "profile email"}, "openid"),
    ],
)
def test_unusable_settings_are_refused_at_start(changes: dict[str, Any], problem: str) -> None:
    config = {
        "OIDC_ISSUER": "https://sso.example.vn/realms/lib",
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        **changes,
    }
    with pytest.raises(ValueError, match=problem) as refused:
        oidc.settings_from_config(config)
    assert CLIENT_SECRET not in str(refused.value)


def test_settings_accept_https_and_loopback_and_hide_the_secret() -> None:
    for issuer in ("https://sso.example.vn/realms/lib", "http://localhost:8080", "http://[::1]/x"):
        config = {"OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": "c", "OIDC_CLIENT_SECRET": "s3cr3t"}
        settings = oidc.settings_from_config(config)
        assert settings is not None and "s3cr3t" not in repr(settings)
    assert oidc.settings_from_config({"OIDC_ISSUER": ""}) is None


SETTINGS = oidc.OidcSettings(
    issuer="https://sso.example.vn/realms/lib",
    client_id=CLIENT_ID,
    client_secret="unused",
    scope="openid",
    role_claim="realm_access.roles",
    role_map=ROLE_MAP,
    groups_claim="groups",
    label=oidc.DEFAULT_LABEL,
)


@pytest.mark.parametrize(
    ("claims", "username", "role", "groups"),
    [
        (
            {"preferred_username": "an", "email": "an.nguyen@example.vn", "sub": "1"},
            "an.nguyen@example.vn",  # too short for a username: the next claim is used
            "reader",
            (),
        ),
        (
            {"email": "Đào.Thị Hà@example.vn", "sub": "2", "groups": "han-nom"},
            "Dao.Thi-Ha@example.vn",
            "reader",
            ("han-nom",),
        ),
        (
            {"sub": "3", "realm_access": {"roles": ["quan-tri", "thu-thu"]}, "groups": ["/a", "a"]},
            "sso-",
            "admin",
            ("a",),
        ),
        (
            {"sub": "4f2e-99", "realm_access": {"roles": "thu-thu"}, "groups": [7, "", "b"]},
            "4f2e-99",
            "curator",
            ("b",),
        ),
    ],
)
def test_identity_from_claims(
    claims: dict[str, Any], username: str, role: str, groups: tuple[str, ...]
) -> None:
    identity = oidc.identity_from_claims({"iss": SETTINGS.issuer, **claims}, SETTINGS)
    assert identity.subject == f"{SETTINGS.issuer}|{claims['sub']}"
    assert identity.username.startswith(username) and 3 <= len(identity.username) <= 80
    assert identity.role == role and identity.groups == groups
