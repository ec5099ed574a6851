"""Signed access tokens: the contract between the repository, which issues them, and the
image server, which checks them with no database call.

A token is a JWT signed with HS256 under one of several named keys (key rotation: sign
with the newest, accept any listed). Its `grants` say what the holder may see, in the
vocabulary of `policy.Credential`: "staff", "reader", "group:<name>". The reading room
("onsite") is never carried: it is checked from the client's address on each request.
Its `ep` is the holder's epoch, which sign-out and changes of role or groups advance
(see `policy.Revocations`).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .policy import portable

AUDIENCE = "tangthu-images"
ALGORITHMS = ["HS256"]
MIN_KEY_BYTES = 32


class TokenError(Exception):
    """A token that must not be trusted: forged, expired, for someone else, or malformed."""


@dataclass(frozen=True)
class Keys:
    """Named signing keys; the first is the one new tokens are signed with.

    The JOSE library (and the cryptography it brings) is loaded on the first token, not
    at start-up: an image server that only serves open images never needs it."""

    current: str
    secrets: tuple[tuple[str, str], ...] = field(repr=False)

    @classmethod
    def parse(cls, value: str | Mapping[str, str]) -> Keys:
        """From {"kid": "secret", ...} (or its JSON): the first entry signs."""
        entries = json.loads(value) if isinstance(value, str) else dict(value)
        if not isinstance(entries, dict) or not entries:
            raise ValueError("access token keys must be a JSON object of kid: secret")
        for kid, secret in entries.items():
            if not isinstance(secret, str) or len(secret.encode()) < MIN_KEY_BYTES:
                raise ValueError(f"access token key {kid!r} must be at least 32 bytes")
        pairs = tuple((str(kid), str(secret)) for kid, secret in entries.items())
        return cls(pairs[0][0], pairs)

    @functools.cached_property
    def keyset(self) -> Any:
        from joserfc.jwk import KeySet, OctKey

        return KeySet([OctKey.import_key(secret, {"kid": kid}) for kid, secret in self.secrets])


@dataclass(frozen=True, slots=True)
class Claims:
    subject: str
    grants: frozenset[str]
    expires: int
    epoch: int = 0


def issue(
    keys: Keys, subject: str, grants: Iterable[str], lifetime: int, issuer: str, epoch: int = 0
) -> str:
    """A token of the portable grants only: an on-site grant never leaves the reading room."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "grants": sorted(portable(grants)),
        "ep": epoch,
        "aud": AUDIENCE,
        "iss": issuer,
        "iat": now,
        "exp": now + lifetime,
    }
    from joserfc import jwt

    return jwt.encode({"alg": "HS256", "kid": keys.current}, claims, keys.keyset)


@functools.cache
def _registry() -> Any:
    from joserfc import jwt

    return jwt.JWTClaimsRegistry(
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        sub={"essential": True},
    )


def verify(keys: Keys, token: str) -> Claims:
    """The token's claims, or TokenError: only HS256, only our keys, only our audience."""
    if not token or len(token) > 4096:
        raise TokenError("no usable token")
    from joserfc import jwt
    from joserfc.errors import JoseError

    try:
        decoded = jwt.decode(token, keys.keyset, algorithms=ALGORITHMS)
        _registry().validate(decoded.claims)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise TokenError(f"token refused: {type(exc).__name__}") from exc
    claims: dict[str, Any] = decoded.claims
    grants = claims.get("grants", [])
    if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
        raise TokenError("token refused: malformed grants")
    epoch = claims.get("ep", 0)
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise TokenError("token refused: malformed epoch")
    return Claims(str(claims["sub"]), portable(grants), int(claims["exp"]), epoch)
