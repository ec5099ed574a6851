"""OAI-PMH 2.0, the protocol itself: arguments, dates, errors and resumption tokens.

No database here: what a request asks for is checked and parsed into frozen values.
Lists come in pages, each resumed by a signed, expiring token that holds the request and
the (datestamp, id) of the last record sent, so nothing is kept between requests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer

from manifests import Urls

from ..errors import Refused
from ..record_values import NOT_XML, clean

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
MARC_NS = "http://www.loc.gov/MARC21/slim"
OAI_ID_NS = "http://www.openarchives.org/OAI/2.0/oai-identifier"
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
DATESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_ARGUMENT = 1000  # characters: no identifier, set or token of ours is near this


@dataclass(frozen=True, slots=True)
class MetadataFormat:
    prefix: str
    schema: str
    namespace: str


FORMATS = {
    "oai_dc": MetadataFormat("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC_NS),
    "marcxml": MetadataFormat(
        "marcxml", "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd", MARC_NS
    ),
}

# Each verb's (required, optional) arguments; resumptionToken is always exclusive.
_LIST_ARGS = (("metadataPrefix",), ("from", "until", "set", "resumptionToken"))
ARGUMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Identify": ((), ()),
    "ListMetadataFormats": ((), ("identifier",)),
    "ListSets": ((), ("resumptionToken",)),
    "GetRecord": (("identifier", "metadataPrefix"), ()),
    "ListIdentifiers": _LIST_ARGS,
    "ListRecords": _LIST_ARGS,
}

# The syntax of each argument, as the OAI-PMH schema types the <request> attributes.
_SPEC_PART = r"[A-Za-z0-9\-_.!~*'()]+"
SET_SPEC = re.compile(rf"{_SPEC_PART}(?::{_SPEC_PART})*\Z")
PREFIX = re.compile(rf"{_SPEC_PART}\Z")
# A URI (or an IRI: non-ASCII letters are allowed, as xsd:anyURI allows them).
IDENTIFIER = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:"
    r"(?:[A-Za-z0-9\-._~:/?@!$&'()*+,;=\u00a1-\U0010ffff]|%[0-9A-Fa-f]{2})+\Z"
)
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
SECOND = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
DOMAIN = re.compile(r"[a-zA-Z][a-zA-Z0-9\-]*(\.[a-zA-Z][a-zA-Z0-9\-]*)+\Z")
EMAIL = re.compile(r"\S+@(\S+\.)+\S+\Z")


@dataclass(frozen=True, slots=True)
class OaiSettings:
    """What the answers need from the configuration."""

    urls: Urls
    repository_name: str
    secret_key: str
    default_rights: str = ""
    admin_emails: tuple[str, ...] = ()
    page_size: int = 100
    token_lifetime: timedelta = timedelta(hours=24)

    @property
    def base_url(self) -> str:
        return f"{self.urls.base}/oai"

    @property
    def host(self) -> str:
        """The repository identifier: the public host name, as in oai:host:item."""
        return urlsplit(self.urls.base).hostname or "localhost"

    def identifier(self, item_id: str) -> str:
        return f"oai:{self.host}:{item_id}"

    def item_id(self, identifier: str) -> str | None:
        prefix = f"oai:{self.host}:"
        if identifier.startswith(prefix) and len(identifier) > len(prefix):
            return identifier[len(prefix) :]
        return None

    def emails(self) -> tuple[str, ...]:
        """The configured addresses that the schema accepts, else one at the public host."""
        found = tuple(e for e in self.admin_emails if EMAIL.match(e))
        if found:
            return found
        fallback = f"webmaster@{self.host}"
        return (fallback if EMAIL.match(fallback) else "webmaster@localhost.localdomain",)


class OaiError(Refused):
    """One of the protocol's error codes, with a message for people; the answer carries
    it as an <error> element (OAI-PMH answers errors with 200)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True, slots=True)
class OaiRequest:
    """A request whose verb and arguments are known, present once and well formed."""

    verb: str
    args: dict[str, str]


@dataclass(frozen=True, slots=True)
class Selection:
    """What a list asks for: kept in its resumption tokens."""

    verb: str
    prefix: str
    set_spec: str | None = None
    start: str | None = None  # `from`, as given
    until: str | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """Where the next page starts: after this record, with this many sent before."""

    datestamp: datetime | None = None
    item_id: str = ""
    cursor: int = 0


# -- arguments -----------------------------------------------------------------------


def parse_datestamp(value: str) -> tuple[datetime, bool]:
    """A `from` or `until` value as a naive UTC datetime, and whether it is a whole day."""
    try:
        if DAY.match(value):
            return datetime.strptime(value, "%Y-%m-%d"), True
        if SECOND.match(value):
            return datetime.strptime(value, DATESTAMP_FORMAT), False
    except ValueError:
        pass
    raise OaiError("badArgument", f"not a UTC date (YYYY-MM-DD or {GRANULARITY}): {value!r}")


def date_bounds(start: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """`from` as an inclusive lower bound and `until` as an exclusive upper bound."""
    low = high = None
    low_day = high_day = None
    if start is not None:
        low, low_day = parse_datestamp(start)
    if until is not None:
        high, high_day = parse_datestamp(until)
    if low is not None and high is not None:
        if low_day != high_day:
            raise OaiError("badArgument", "from and until must have the same granularity")
        if low > high:
            raise OaiError("badArgument", "from is later than until")
    if high is not None:
        high += timedelta(days=1) if high_day else timedelta(seconds=1)
    return low, high


def parse_request(pairs: Sequence[tuple[str, str]]) -> OaiRequest:
    """The verb and its arguments, or badVerb / badArgument."""
    verbs = [value for key, value in pairs if key == "verb"]
    if not verbs:
        raise OaiError("badVerb", "the verb argument is missing")
    if len(verbs) > 1:
        raise OaiError("badVerb", "the verb argument is repeated")
    verb = verbs[0]
    if verb not in ARGUMENTS:
        raise OaiError("badVerb", f"not an OAI-PMH verb: {clean(verb)[:100]!r}")
    required, optional = ARGUMENTS[verb]
    args: dict[str, str] = {}
    for key, value in pairs:
        if key == "verb":
            continue
        if key not in required and key not in optional:
            raise OaiError("badArgument", f"{verb} takes no argument {clean(key)[:100]!r}")
        if key in args:
            raise OaiError("badArgument", f"the argument {key} is repeated")
        if len(value) > MAX_ARGUMENT or NOT_XML.search(value):
            raise OaiError("badArgument", f"the argument {key} is too long or not text")
        args[key] = value
    if "resumptionToken" in args:
        if len(args) > 1:
            raise OaiError("badArgument", "resumptionToken must be the only argument")
        return OaiRequest(verb, args)
    missing = [key for key in required if key not in args]
    if missing:
        raise OaiError("badArgument", f"{verb} needs the argument {missing[0]}")
    _check_syntax(args)
    return OaiRequest(verb, args)


def _check_syntax(args: dict[str, str]) -> None:
    if "metadataPrefix" in args and not PREFIX.match(args["metadataPrefix"]):
        raise OaiError("badArgument", "metadataPrefix has characters it may not have")
    if "set" in args and not SET_SPEC.match(args["set"]):
        raise OaiError("badArgument", "set is not a setSpec")
    if "identifier" in args and not IDENTIFIER.match(args["identifier"]):
        raise OaiError("badArgument", "identifier is not a URI")
    date_bounds(args.get("from"), args.get("until"))


def format_datestamp(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(DATESTAMP_FORMAT)


# -- resumption tokens ---------------------------------------------------------------


def _serializer(settings: OaiSettings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt="oai-pmh-resumption")


def make_token(
    selection: Selection, position: Position, settings: OaiSettings, now: datetime
) -> str:
    """A signed token: the request, where to go on, and when it was issued."""
    assert position.datestamp is not None
    payload = {
        "v": selection.verb,
        "p": selection.prefix,
        "s": selection.set_spec,
        "f": selection.start,
        "u": selection.until,
        "d": position.datestamp.isoformat(timespec="microseconds"),
        "i": position.item_id,
        "c": position.cursor,
        "t": int(now.timestamp()),
    }
    return str(_serializer(settings).dumps(payload))


def read_token(
    token: str, verb: str, settings: OaiSettings, now: datetime
) -> tuple[Selection, Position]:
    """What a token holds; badResumptionToken if forged, altered, expired or misplaced."""
    try:
        payload: dict[str, Any] = _serializer(settings).loads(token)
        issued = datetime.fromtimestamp(int(payload["t"]), UTC)
        selection = Selection(
            str(payload["v"]),
            str(payload["p"]),
            payload["s"],
            payload["f"],
            payload["u"],
        )
        position = Position(
            datetime.fromisoformat(payload["d"]), str(payload["i"]), int(payload["c"])
        )
    except (BadData, KeyError, TypeError, ValueError, OverflowError):
        raise OaiError("badResumptionToken", "this resumption token is not one of ours") from None
    if not issued - timedelta(minutes=5) <= now <= issued + settings.token_lifetime:
        raise OaiError("badResumptionToken", "this resumption token has expired") from None
    if selection.verb != verb:
        raise OaiError("badResumptionToken", f"this resumption token is not for {verb}")
    return selection, position
