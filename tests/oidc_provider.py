"""A small but real OpenID Connect provider for tests, served over HTTP on 127.0.0.1.

It speaks the authorization-code flow as Keycloak does: a discovery document, an
authorization endpoint that insists on PKCE (S256), a token endpoint that authenticates
the client (Basic or form), a JWKS endpoint, and ID tokens signed RS256 with the nonce.
Nobody types a password: the authorization endpoint approves whoever the test has
"signed in" at the provider (``provider.signed_in``), or answers ``login_required``.

``provider.fault`` makes the next ID tokens wrong in one way (forged, expired, ...), so
tests can check that the client refuses them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

REALM = "/realms/thu-vien"
KEY_ID = "thu-vien-2025"
FAULTS = ("forged", "expired", "wrong-audience", "wrong-issuer", "wrong-nonce", "no-id-token")


@dataclass(frozen=True)
class Person:
    """Someone with an account at the provider, and the claims it asserts about them."""

    sub: str
    preferred_username: str | None = None
    email: str | None = None
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def claims(self) -> dict[str, Any]:
        found = {"preferred_username": self.preferred_username, "email": self.email}
        extra = {key: value for key, value in found.items() if value}
        return {**extra, "roles": list(self.roles), "groups": list(self.groups)}


@dataclass(frozen=True)
class Grant:
    """An authorization code waiting to be exchanged at the token endpoint."""

    person: Person
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str
    expires_at: float


@dataclass
class Provider:
    """The provider's state: one registered client, its people, codes and signing key."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    issuer: str = ""
    signed_in: str | None = None
    fault: str | None = None
    people: dict[str, Person] = field(default_factory=dict)
    codes: dict[str, Grant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(
            2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"}
        )
    )

    def add(self, person: Person) -> Person:
        self.people[person.sub] = person
        return person

    def issue_code(self, grant: Grant) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = grant
        return code

    def redeem(self, code: str) -> Grant | None:
        """Each code works once, and only for a minute."""
        with self.lock:
            grant = self.codes.pop(code, None)
        return grant if grant and grant.expires_at > time.time() else None

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.person.sub,
            "aud": grant.client_id,
            "azp": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            **grant.person.claims(),
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        key = self.key
        if self.fault == "forged":
            key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID})
        elif self.fault == "expired":
            claims.update(iat=now - 3600, exp=now - 1800)
        elif self.fault == "wrong-audience":
            claims.update(aud="another-library", azp="another-library")
        elif self.fault == "wrong-issuer":
            claims["iss"] = "https://sso.example.net/realms/other"
        elif self.fault == "wrong-nonce":
            claims["nonce"] = "not-the-nonce-you-sent"
        return jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, key)


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _oauth_error(error: str, status: int = 400) -> tuple[Response, int]:
    return jsonify(error=error), status


def _back_to_client(redirect_uri: str, **params: str) -> Response:
    return redirect(f"{redirect_uri}?{urlencode(params)}", 302)


def create_provider_app(provider: Provider) -> Flask:
    """The provider's endpoints, under a Keycloak-style realm path."""
    app = Flask(__name__)
    realm = Blueprint("realm", __name__, url_prefix=REALM)

    @realm.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        base = provider.issuer
        return jsonify(
            issuer=base,
            authorization_endpoint=f"{base}/protocol/openid-connect/auth",
            token_endpoint=f"{base}/protocol/openid-connect/token",
            jwks_uri=f"{base}/protocol/openid-connect/certs",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            code_challenge_methods_supported=["S256"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            scopes_supported=["openid", "profile", "email"],
        )

    @realm.get("/protocol/openid-connect/certs")
    def jwks() -> Response:
        return jsonify(KeySet([provider.key]).as_dict(private=False))

    @realm.get("/protocol/openid-connect/auth")
    def authorize() -> Response:
        args = request.args
        if args.get("client_id") != provider.client_id:
            abort(400, "unknown client")
        if args.get("redirect_uri") != provider.redirect_uri:
            abort(400, "redirect_uri is not registered for this client")
        back = provider.redirect_uri
        state = args.get("state", "")
        if args.get("response_type") != "code" or "openid" not in args.get("scope", "").split():
            return _back_to_client(back, error="invalid_request", state=state)
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return _back_to_client(back, error="invalid_request", state=state)
        person = provider.people.get(args.get("login_hint") or provider.signed_in or "")
        if person is None:
            return _back_to_client(back, error="login_required", state=state)
        grant = Grant(
            person,
            provider.client_id,
            back,
            args.get("nonce"),
            args["code_challenge"],
            time.time() + 60,
        )
        code = provider.issue_code(grant)
        return _back_to_client(back, code=code, state=state, iss=provider.issuer)

    @realm.post("/protocol/openid-connect/token")
    def token() -> tuple[Response, int]:
        auth = request.authorization
        client_id = auth.username if auth else request.form.get("client_id")
        secret = (auth.password if auth else request.form.get("client_secret")) or ""
        if client_id != provider.client_id or not hmac.compare_digest(
            secret.encode(), provider.client_secret.encode()
        ):
            return _oauth_error("invalid_client", 401)
        if request.form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type")
        grant = provider.redeem(request.form.get("code", ""))
        verifier = request.form.get("code_verifier", "")
        if (
            grant is None
            or grant.client_id != client_id
            or grant.redirect_uri != request.form.get("redirect_uri")
            or not hmac.compare_digest(pkce_s256(verifier), grant.code_challenge)
        ):
            return _oauth_error("invalid_grant")
        answer: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "openid profile email",
        }
        if provider.fault != "no-id-token":
            answer["id_token"] = provider.id_token(grant)
        response = jsonify(answer)
        response.headers["Cache-Control"] = "no-store"
        return response, 200

    app.register_blueprint(realm)
    return app


@contextmanager
def serve(provider: Provider) -> Iterator[Provider]:
    """Run the provider on a free loopback port in a thread; stop it on exit."""
    server = make_server("127.0.0.1", 0, create_provider_app(provider), threaded=True)
    provider.issuer = f"http://127.0.0.1:{server.server_port}{REALM}"
    thread = threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
