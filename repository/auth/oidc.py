"""Single sign-on through OpenID Connect: authlib's Flask client, discovery, PKCE.

Off while ``OIDC_ISSUER`` is empty (both routes then answer 404). Config keys:

- ``OIDC_ISSUER``: the provider's issuer, exactly as its discovery document spells it,
  e.g. ``https://sso.example.vn/realms/lib``. Only https, except on a loopback address
  (127.0.0.1, ::1, localhost), which tests and trials on one machine use.
- ``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``: this site's client at the provider. Give the
  secret through the environment (``TANGTHU_OIDC_CLIENT_SECRET``); it is never logged.
- ``OIDC_SCOPE``: ``openid profile email`` when empty.
- ``OIDC_ROLE_CLAIM``: the claim listing the user's roles, ``roles`` when empty; a dotted
  path such as ``realm_access.roles`` reaches into a nested claim.
- ``OIDC_ROLE_MAP``: a JSON object from claim values to our roles, e.g.
  ``{"thu-thu": "curator", "quan-tri": "admin"}``; the highest mapped role wins, and a
  user with none is a reader.
- ``OIDC_GROUPS_CLAIM``: the claim listing the user's reader groups, ``groups`` when empty.
  Each name is a ``ReaderGroup`` (made if new; a Keycloak-style leading "/" is dropped),
  and at every sign-in the user's groups become exactly these.
- ``OIDC_LABEL``: the login button's text, a language map.

The provider must accept ``PUBLIC_URL + "/auth/oidc/callback"`` as a redirect URI.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from joserfc.errors import JoseError
from requests import RequestException
from werkzeug.wrappers import Response

from .. import get_storage
from ..extensions import db
from ..models import ReaderGroup, User
from ..services.accounts import ROLES, revoke_access
from ..services.audit import record
from ..services.errors import Refused
from ..settings import current_settings
from ..web import client_address, safe_next
from .blueprint import bp
from .signin import finish_sign_in

log = logging.getLogger(__name__)

EXTENSION = "tangthu.oidc"
DEFAULT_LABEL = {"vi": "Đăng nhập một lần", "en": "Single sign-on"}
_RANK = {role: rank for rank, role in enumerate(reversed(ROLES))}  # reader < curator < admin
_NOT_USERNAME = re.compile(r"[^A-Za-z0-9_.@-]+")


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """The provider and how its claims map onto our roles and reader groups."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str
    role_claim: str
    role_map: Mapping[str, str]
    groups_claim: str
    label: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SingleSignOn:
    """What init_oidc binds to an app: the settings and authlib's client for them."""

    settings: OidcSettings
    client: Any  # authlib's FlaskOAuth2App, which is untyped


@dataclass(frozen=True, slots=True)
class SsoIdentity:
    """Who the provider vouched for, in our terms."""

    subject: str  # "issuer|sub": the account's key, stable across renames
    username: str  # wanted; another account may already have it
    role: str
    groups: tuple[str, ...]


class SignInRefused(Refused):
    """An answer that must sign nobody in: a message for the user, the reason for the log."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason  # what the log says; the user is shown ``message``


def is_allowed_issuer(url: str) -> bool:
    """https, or plain http only on this machine's loopback."""
    parts = urlsplit(url)
    if not parts.hostname or parts.query or parts.fragment:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json_object(value: Any, key: str) -> dict[str, str]:
    """A mapping from the instance config, or the JSON text of an environment variable."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be a JSON object")
    return {str(name): str(target) for name, target in value.items()}


def settings_from_config(config: Mapping[str, Any]) -> OidcSettings | None:
    """The OIDC settings, None when no issuer is set; ValueError for a setting that cannot work."""
    issuer = str(config.get("OIDC_ISSUER") or "")
    if not issuer:
        return None
    if not is_allowed_issuer(issuer):
        raise ValueError("OIDC_ISSUER must be an https URL (plain http only on a loopback address)")
    missing = [key for key in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET") if not config.get(key)]
    if missing:
        raise ValueError(f"OIDC_ISSUER is set but {' and '.join(missing)} is not")
    scope = str(config.get("OIDC_SCOPE") or "openid profile email")
    if "openid" not in scope.split():
        raise ValueError("OIDC_SCOPE must include openid")
    role_map = _json_object(config.get("OIDC_ROLE_MAP") or {}, "OIDC_ROLE_MAP")
    unknown = sorted(set(role_map.values()) - set(ROLES))
    if unknown:
        raise ValueError(f"OIDC_ROLE_MAP maps to unknown roles {unknown}; use {list(ROLES)}")
    return OidcSettings(
        issuer=issuer,
        client_id=str(config["OIDC_CLIENT_ID"]),
        client_secret=str(config["OIDC_CLIENT_SECRET"]),
        scope=scope,
        role_claim=str(config.get("OIDC_ROLE_CLAIM") or "roles"),
        role_map=role_map,
        groups_claim=str(config.get("OIDC_GROUPS_CLAIM") or "groups"),
        label=_json_object(config.get("OIDC_LABEL") or DEFAULT_LABEL, "OIDC_LABEL"),
    )


def init_oidc(app: Flask) -> None:
    """Register the provider named by OIDC_ISSUER, if any.

    Reads OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_SCOPE, OIDC_ROLE_CLAIM,
    OIDC_ROLE_MAP, OIDC_GROUPS_CLAIM and OIDC_LABEL (see the module docstring), and
    PUBLIC_URL for the callback address.
    """
    settings = settings_from_config(app.config)
    if settings is None:
        return
    # One registry per app: authlib's registry binds a single app and caches its clients.
    client = OAuth(app).register(
        "oidc",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.scope,
            "code_challenge_method": "S256",
            "default_timeout": 10,
        },
    )
    app.extensions[EXTENSION] = SingleSignOn(settings, client)
    app.context_processor(lambda: {"oidc_label": settings.label})
    log.info("single sign-on through %s as client %s", settings.issuer, settings.client_id)


# Pure: claims in, identity out.


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """The strings at a dotted claim path; a single string counts as a list of one."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def mapped_role(values: list[str], role_map: Mapping[str, str]) -> str:
    """The highest of our roles that the claim values map to; reader when none do."""
    roles = [role_map[value] for value in values if value in role_map]
    return max(roles, key=_RANK.__getitem__, default="reader")


def group_names(values: list[str]) -> tuple[str, ...]:
    """Distinct, non-empty names that fit a ReaderGroup, in the provider's order."""
    names = (value.strip().strip("/") for value in values)
    return tuple(dict.fromkeys(name for name in names if name and len(name) <= 80))


def clean_username(text: str) -> str:
    """Letters without diacritics, digits and . _ @ -, as local usernames are."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = plain.encode("ascii", "ignore").decode("ascii")
    return _NOT_USERNAME.sub("-", ascii_text).strip("-")[:80]


def identity_from_claims(claims: Mapping[str, Any], settings: OidcSettings) -> SsoIdentity:
    """Map verified ID-token claims to an account: subject, username, role and groups."""
    subject = f"{claims['iss']}|{claims['sub']}"
    wanted = (claims.get(key) for key in ("preferred_username", "email", "sub"))
    usernames = (clean_username(value) for value in wanted if isinstance(value, str))
    fallback = "sso-" + hashlib.sha256(subject.encode()).hexdigest()[:8]
    return SsoIdentity(
        subject=subject,
        username=next((name for name in usernames if len(name) >= 3), fallback),
        role=mapped_role(claim_values(claims, settings.role_claim), settings.role_map),
        groups=group_names(claim_values(claims, settings.groups_claim)),
    )


# The database: accounts and groups as the provider says they are.


def _username_taken(username: str) -> bool:
    found = db.session.execute(db.select(User.id).filter_by(username=username)).first()
    return found is not None


def free_username(wanted: str, subject: str) -> str:
    """The wanted name, or it with a short suffix from the subject when another has it."""
    digest = hashlib.sha256(subject.encode()).hexdigest()
    candidates = [wanted, f"{wanted[:73]}-{digest[:6]}", f"{wanted[:67]}-{digest[:12]}"]
    for candidate in candidates:
        if not _username_taken(candidate):
            return candidate
    return f"{wanted[:71]}-{secrets.token_hex(4)}"


def reader_groups(names: tuple[str, ...]) -> list[ReaderGroup]:
    """The groups with these names, making the ones that do not exist yet."""
    query = db.select(ReaderGroup).where(ReaderGroup.name.in_(names))
    found = {group.name: group for group in db.session.execute(query).scalars()}
    for name in names:
        if name not in found:
            found[name] = ReaderGroup(name=name, label={"vi": name, "en": name})
            db.session.add(found[name])
    return [found[name] for name in names]


def sync_user(identity: SsoIdentity, address: str | None) -> User:
    """Create or update the identity's account; audit what the provider changed."""
    user = db.session.execute(db.select(User).filter_by(sso_subject=identity.subject)).scalar()
    if user is not None and user.disabled:  # nothing the provider says changes it
        record("login-refused", user.username, detail="oidc: account disabled", address=address)
        message = _("This account is disabled. Ask the library if you think this is a mistake.")
        raise SignInRefused(message, f"account {user.username!r} is disabled")
    created = user is None
    if user is None:
        username = free_username(identity.username, identity.subject)
        user = User(username=username, password_hash="", sso_subject=identity.subject)
        db.session.add(user)
    before = (user.role, sorted(group.name for group in user.groups))
    user.role = identity.role
    user.groups = reader_groups(identity.groups)
    db.session.commit()
    after = (user.role, sorted(identity.groups))
    if created:
        detail = f"role {after[0]}; groups {after[1]}"
        record("sso-account-created", "oidc", user.username, detail, address)
    elif before != after:
        detail = f"role {before[0]} → {after[0]}; groups {before[1]} → {after[1]}"
        record("sso-account-updated", "oidc", user.username, detail, address)
        # Sessions and access cookies held elsewhere carry the old role and groups.
        revoke_access(user, get_storage(), current_settings().access_token_lifetime)
    return user


# Views.


def _sso() -> SingleSignOn:
    sso: SingleSignOn | None = current_app.extensions.get(EXTENSION)
    if sso is None:
        abort(404)
    return sso


def _callback_url() -> str:
    """From PUBLIC_URL, so it matches what is registered at the provider behind any proxy."""
    path = url_for("auth.oidc_callback")[len(request.script_root) :]
    return current_settings().public_url.rstrip("/") + path


def _unavailable(reason: str) -> SignInRefused:
    message = _("Single sign-on is not available right now. Try again later, or sign in here.")
    return SignInRefused(message, reason)


def _unverified(reason: str) -> SignInRefused:
    message = _("The sign-in service's answer could not be verified, so you were not signed in.")
    return SignInRefused(message, reason)


def _checked_metadata(sso: SingleSignOn) -> None:
    """Fetch the discovery document once; its issuer and endpoints must be what we trust."""
    try:
        metadata = sso.client.load_server_metadata()
    except (RequestException, ValueError) as error:
        raise _unavailable(f"discovery document unavailable: {error}") from error
    if metadata.get("issuer") != sso.settings.issuer:
        raise _unavailable(f"discovery names issuer {metadata.get('issuer')!r}, not OIDC_ISSUER")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not is_allowed_issuer(str(metadata.get(key) or "")):
            raise _unavailable(f"discovery gives an unusable {key}: {metadata.get(key)!r}")


def _claims_options(settings: OidcSettings) -> dict[str, dict[str, Any]]:
    """Beyond signature and nonce, which authlib checks: our issuer, our audience, not expired."""
    return {
        "iss": {"essential": True, "value": settings.issuer},
        "aud": {"essential": True, "value": settings.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
    }


def _verified_claims(sso: SingleSignOn) -> Mapping[str, Any]:
    """The ID token's claims once state, code, PKCE, signature and claims all check out."""
    if request.args.get("error"):
        message = _("The sign-in service did not sign you in. Try again, or ask the library.")
        raise SignInRefused(message, f"provider answered error={request.args['error']!r}")
    if request.args.get("iss", sso.settings.issuer) != sso.settings.issuer:
        raise _unverified(f"answer from issuer {request.args['iss']!r}")
    _checked_metadata(sso)
    try:
        token = sso.client.authorize_access_token(claims_options=_claims_options(sso.settings))
    except MismatchingStateError as error:
        message = _("That sign-in attempt expired or began in another window. Please try again.")
        raise SignInRefused(message, "state does not match this session") from error
    except (OAuthError, JoseError, ValueError, KeyError) as error:
        raise _unverified(f"{type(error).__name__}: {error}") from error
    except RequestException as error:
        raise _unavailable(f"token endpoint unreachable: {error}") from error
    claims: Mapping[str, Any] | None = token.get("userinfo")
    if not claims:
        raise _unverified("the token response has no ID token")
    return claims


def _refuse(refusal: SignInRefused) -> Response:
    log.warning("single sign-on refused: %s", refusal)
    flash(refusal.message)
    return redirect(url_for("auth.login", next=session.get("next")))


@bp.get("/oidc/login")
def oidc_login() -> Response:
    """Send the browser to the provider, remembering where to go afterwards."""
    sso = _sso()
    session["next"] = safe_next(request.args.get("next"), url_for("public.index"))
    try:
        _checked_metadata(sso)
        response: Response = sso.client.authorize_redirect(_callback_url())
    except RequestException as error:
        return _refuse(_unavailable(f"provider unreachable: {error}"))
    except SignInRefused as refusal:
        return _refuse(refusal)
    return response


@bp.get("/oidc/callback")
def oidc_callback() -> Response:
    """The provider's answer: verify it, sync the account, sign in."""
    sso = _sso()
    try:
        claims = _verified_claims(sso)
        user = sync_user(identity_from_claims(claims, sso.settings), client_address())
    except SignInRefused as refusal:
        return _refuse(refusal)
    return finish_sign_in(user, "oidc")
