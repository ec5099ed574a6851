"""Refuse placeholder and guessable secrets before an app starts with them.

Pure: no I/O, no Flask. Both apps call `check_secret` and `check_token_keys` in their
factories on the secrets that configuration supplies. A refusal names the setting and
why, never the value.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping

MIN_LENGTH = 32
# A secret from `secrets.token_hex(16)` (32 hex digits) has at least 8 distinct
# characters and 2.75 bits of entropy per character in all but about one case in 10^5,
# so these bounds refuse typed-in secrets without refusing generated ones.
MIN_DISTINCT = 8
MIN_BITS_PER_CHAR = 2.75
# More than this share of neighbouring characters equal or one apart ("aaaa", "abcd",
# "1234") is a pattern, not randomness.
MAX_RUN_SHARE = 0.5
GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"

# What placeholders are made of, anywhere in the value and in any case: deploy/env.example
# ships "change-me-…" values. By chance, one of these turns up in about one
# `secrets.token_urlsafe(48)` in 10^5, and never in hex.
PLACEHOLDER_WORDS = (
    "change",
    "placeholder",
    "example",
    "secret",
    "password",
    "passwd",
    "dummy",
    "sample",
    "default",
    "insecure",
    "replace",
    "fixme",
    "qwerty",
    "letmein",
    "xxxxx",
)
# Short ones refuse only as words of their own ("your-key", "test_1", "todo"): inside
# random text, four letters turn up too often.
PLACEHOLDER_SHORT = re.compile(r"(?<![a-z])(your|test|todo|demo)(?![a-z])")


class WeakSecret(ValueError):
    """A configured secret is a placeholder or too weak; the message names the setting."""


def bits_per_char(value: str) -> float:
    """The Shannon entropy of the value's characters, in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _run_share(value: str) -> float:
    pairs = list(zip(value, value[1:], strict=False))
    if not pairs:
        return 1.0
    return sum(1 for a, b in pairs if abs(ord(a) - ord(b)) <= 1) / len(pairs)


def _repeats(value: str) -> bool:
    """Whether the value is a shorter piece repeated ("abcdabcd…")."""
    return (value + value).find(value, 1) < len(value)


def weakness(value: str) -> str | None:
    """Why this secret is unfit (never quoting it), or None if it looks random enough."""
    lowered = value.lower()
    word = next((w for w in PLACEHOLDER_WORDS if w in lowered), None)
    short = PLACEHOLDER_SHORT.search(lowered)
    if word or short:
        found = word or (short.group(1) if short else "")
        return f"it looks like a placeholder (it contains {found!r})"
    if len(value) < MIN_LENGTH:
        return f"it has {len(value)} characters; at least {MIN_LENGTH} are needed"
    if len(set(value)) < MIN_DISTINCT:
        return f"it uses only {len(set(value))} different characters"
    if bits_per_char(value) < MIN_BITS_PER_CHAR or _repeats(value):
        return "it is too regular to be random"
    if _run_share(value) > MAX_RUN_SHARE:
        return "it is mostly runs of repeated or consecutive characters"
    return None


def check_secret(name: str, value: str) -> None:
    """Raise `WeakSecret` naming ``name`` when ``value`` is unfit."""
    reason = weakness(value)
    if reason is not None:
        raise WeakSecret(
            f"{name} is a placeholder or too weak: {reason}; generate one with: {GENERATE}"
        )


def check_token_keys(name: str, keys: str | Mapping[str, object]) -> None:
    """Check every secret of an access-token key set ({"kid": "secret"} or its JSON).

    A set that does not parse is left to the token code, which explains its shape.
    """
    try:
        entries = json.loads(keys) if isinstance(keys, str) else dict(keys)
    except ValueError:
        return
    if not isinstance(entries, dict):
        return
    for kid, secret in entries.items():
        if isinstance(secret, str):
            check_secret(f"{name} (key {str(kid)!r})", secret)
