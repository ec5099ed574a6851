"""OAI-PMH 2.0: a harvester's arguments in, the XML answer out. No request objects here.

Records are published items (and withdrawn ones, as deleted records, for ever). Items
that anonymous readers may not know of (staff level, under embargo, drafts) do not
exist for OAI, not even as deleted. Sets are collections, nested as ``parent:child``.
Lists come in pages, each resumed by a signed, expiring token that holds the request and
the (datestamp, id) of the last record sent, so nothing is kept between requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pymarc
from itsdangerous import BadData, URLSafeSerializer
from lxml import etree
from sqlalchemy import ColumnElement, and_, func, or_

from manifests import Urls

from ..extensions import db
from ..models import Collection, Item
from .access import publicly_known, publicly_known_items
from .publish import DC_LABELS

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
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*\Z")
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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


class OaiError(Exception):
    """One of the protocol's error codes, with a message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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


def clean(text: str) -> str:
    """Text with the characters XML 1.0 cannot carry removed."""
    return NOT_XML.sub("", text)


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


# -- which items, in which sets ------------------------------------------------------


def record_datestamp() -> ColumnElement[datetime]:
    """A record changes when its item's row does."""
    return func.coalesce(Item.updated_at, Item.published_at)


def harvestable(today: date | None = None) -> ColumnElement[bool]:
    """Published items anyone may know of, and withdrawn ones that were such."""
    return publicly_known_items(today)


def is_harvestable(item: Item) -> bool:
    """The same rule as ``harvestable``, for one item."""
    return publicly_known(item)


def datestamp(item: Item) -> datetime:
    return item.updated_at or item.published_at or item.created_at


def format_datestamp(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(DATESTAMP_FORMAT)


def pick(values: dict[str, str] | None, default: str = "") -> str:
    """Vietnamese, else English, else any language."""
    values = values or {}
    for lang in ("vi", "en"):
        if values.get(lang):
            return values[lang]
    return next((v for v in values.values() if v), default)


@dataclass(frozen=True, slots=True)
class OaiSet:
    spec: str
    name: str
    description: dict[str, str]


@dataclass(frozen=True, slots=True)
class SetTree:
    """Every collection's full setSpec (``parent:child``), by collection id."""

    sets: dict[int, OaiSet]

    @classmethod
    def load(cls) -> SetTree:
        rows = db.session.execute(
            db.select(
                Collection.id,
                Collection.slug,
                Collection.parent_id,
                Collection.title,
                Collection.description,
            )
        ).all()
        by_id = {row.id: row for row in rows}
        sets: dict[int, OaiSet] = {}
        for row in rows:
            parts: list[str] = []
            seen: set[int] = set()
            current: Any = row
            while current is not None and current.id not in seen:
                seen.add(current.id)
                parts.append(current.slug)
                current = by_id.get(current.parent_id) if current.parent_id else None
            spec = ":".join(reversed(parts))
            if SET_SPEC.match(spec):  # a slug the protocol cannot carry makes no set
                name = pick(row.title, row.slug)
                sets[row.id] = OaiSet(spec, clean(name), dict(row.description or {}))
        return cls(sets)

    def specs_of(self, collection_id: int) -> list[str]:
        """The item's set and each set above it, the widest first."""
        found = self.sets.get(collection_id)
        if found is None:
            return []
        parts = found.spec.split(":")
        return [":".join(parts[: n + 1]) for n in range(len(parts))]

    def members(self, spec: str) -> list[int]:
        """The collections in the set: the one named and those beneath it."""
        return [
            cid
            for cid, found in self.sets.items()
            if found.spec == spec or found.spec.startswith(f"{spec}:")
        ]


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


# -- metadata ------------------------------------------------------------------------


def dc_values(item: Item, element: str) -> list[tuple[str, str | None]]:
    """An element's values with their language tags (None when unknown or not a tag)."""
    found: list[tuple[str, str | None]] = []
    entries = (item.dc or {}).get(element) or []
    if not isinstance(entries, list):
        entries = [entries]
    for entry in entries:
        if isinstance(entry, dict):
            value, lang = entry.get("value"), entry.get("lang")
        else:
            value, lang = entry, None
        text = clean(str(value if value is not None else "")).strip()
        if text:
            tag = lang if isinstance(lang, str) and LANGUAGE_TAG.match(lang) else None
            found.append((text, None if tag == "none" else tag))
    return found


def language_values(values: dict[str, str] | None) -> list[tuple[str, str | None]]:
    """A language map's texts, Vietnamese first."""
    values = values or {}
    ordered = sorted(values.items(), key=lambda pair: (pair[0] != "vi", pair[0] != "en"))
    found: list[tuple[str, str | None]] = []
    for lang, value in ordered:
        text = clean(str(value or "")).strip()
        if text:
            tag = lang if LANGUAGE_TAG.match(lang) and lang != "none" else None
            found.append((text, tag))
    return found


def _years(item: Item) -> str:
    if item.year_start and item.year_end and item.year_end != item.year_start:
        return f"{item.year_start}-{item.year_end}"
    return str(item.year_start) if item.year_start else ""


def oai_dc(item: Item, settings: OaiSettings) -> etree._Element:
    """Simple Dublin Core, each value keeping its language as xml:lang."""
    root = etree.Element(
        f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS}
    )
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_DC_NS} {FORMATS['oai_dc'].schema}")

    def add(element: str, values: Iterable[tuple[str, str | None]]) -> None:
        for text, lang in values:
            node = etree.SubElement(root, f"{{{DC_NS}}}{element}")
            node.text = text
            if lang:
                node.set(XML_LANG, lang)

    add("title", language_values(item.title))
    for element in DC_LABELS:
        if element == "rights":
            continue
        add(element, dc_values(item, element))
        if element == "description":
            add("description", language_values(item.summary))
        if element == "date" and not dc_values(item, "date") and _years(item):
            add("date", [(_years(item), None)])
        if element == "type" and not dc_values(item, "type"):
            add("type", [("Text", "en")])
    add("identifier", [(settings.urls.item_page(item.id), None)])
    add("identifier", [(settings.urls.manifest(item.id), None)])
    add("rights", dc_values(item, "rights"))
    rights = item.rights or settings.default_rights
    if rights:
        add("rights", [(clean(rights), None)])
    return root


MARC_LANGUAGES = {
    "vi": "vie",
    "vie": "vie",
    "tiếng việt": "vie",
    "en": "eng",
    "eng": "eng",
    "fr": "fre",
    "fre": "fre",
    "fra": "fre",
    "zh": "chi",
    "lzh": "chi",
    "chi": "chi",
    "zho": "chi",
    "ja": "jpn",
    "jpn": "jpn",
    "la": "lat",
    "lat": "lat",
}


def _control_008(item: Item) -> str:
    """Fixed-length data: entered, dates, language; the rest left uncoded."""
    entered = (item.created_at or item.updated_at).strftime("%y%m%d")
    start, end = item.year_start, item.year_end
    if start and 0 < start <= 9999 and end and 0 < end <= 9999 and end != start:
        dates = f"m{start:04d}{end:04d}"
    elif start and 0 < start <= 9999:
        dates = f"s{start:04d}    "
    else:
        dates = "nuuuuuuuu"
    languages = [MARC_LANGUAGES.get(text.lower()) for text, _ in dc_values(item, "language")]
    language = next((code for code in languages if code), "und")
    return f"{entered}{dates}xx {'|' * 17}{language} d"


def marc_record(item: Item, settings: OaiSettings) -> pymarc.Record:
    """A minimal-level MARC 21 record made from the item's Dublin Core."""
    record = pymarc.Record(force_utf8=True, leader="00000nam a22000007u 4500")

    def data(tag: str, ind: str, *subfields: tuple[str, str]) -> None:
        record.add_field(
            pymarc.Field(
                tag=tag,
                indicators=pymarc.Indicators(ind[0], ind[1]),
                subfields=[pymarc.Subfield(code, value) for code, value in subfields],
            )
        )

    record.add_field(pymarc.Field(tag="001", data=item.id))
    record.add_field(pymarc.Field(tag="005", data=datestamp(item).strftime("%Y%m%d%H%M%S.0")))
    record.add_field(pymarc.Field(tag="008", data=_control_008(item)))
    for text, _ in dc_values(item, "identifier"):
        data("099", "  ", ("a", text))
    creators = [text for text, _ in dc_values(item, "creator")]
    if creators:
        data("100", "1 ", ("a", creators[0]))
    titles = language_values(item.title) or [(item.id, None)]
    data("245", "10" if creators else "00", ("a", titles[0][0]))
    for text, _ in titles[1:]:
        data("246", "31", ("a", text))
    publishers = [("b", text) for text, _ in dc_values(item, "publisher")]
    dates = [("c", text) for text, _ in dc_values(item, "date")] or (
        [("c", _years(item))] if _years(item) else []
    )
    if publishers or dates:
        data("264", " 1", *publishers, *dates)
    for text, _ in dc_values(item, "format"):
        data("300", "  ", ("a", text))
    for text, _ in dc_values(item, "description"):
        data("500", "  ", ("a", text))
    for text, _ in language_values(item.summary):
        data("520", "  ", ("a", text))
    rights = item.rights or settings.default_rights
    statements = [text for text, _ in dc_values(item, "rights")]
    if statements or rights:
        data(
            "540",
            "  ",
            *[("a", text) for text in statements],
            *([("u", clean(rights))] if rights else []),
        )
    for text, _ in dc_values(item, "language"):
        data("546", "  ", ("a", text))
    for text, _ in dc_values(item, "subject"):
        data("650", " 4", ("a", text))
    for text, _ in dc_values(item, "type"):
        data("655", " 4", ("a", text))
    for text in creators[1:] + [text for text, _ in dc_values(item, "contributor")]:
        data("700", "1 ", ("a", text))
    data(
        "856",
        "40",
        ("3", "Trang tài liệu / Item page"),
        ("q", "text/html"),
        ("u", settings.urls.item_page(item.id)),
    )
    data(
        "856",
        "40",
        ("3", "IIIF Presentation manifest"),
        ("q", "application/ld+json"),
        ("u", settings.urls.manifest(item.id)),
    )
    return record


def marcxml(item: Item, settings: OaiSettings) -> etree._Element:
    """MARC 21 slim XML, as pymarc writes it."""
    return etree.fromstring(pymarc.record_to_xml(marc_record(item, settings), namespace=True))


WRITERS: dict[str, Callable[[Item, OaiSettings], etree._Element]] = {
    "oai_dc": oai_dc,
    "marcxml": marcxml,
}


# -- the verbs -----------------------------------------------------------------------


def _oai(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    node = etree.SubElement(parent, f"{{{OAI_NS}}}{name}")
    if text is not None:
        node.text = text
    return node


def _header(parent: etree._Element, item: Item, tree: SetTree, settings: OaiSettings) -> None:
    header = _oai(parent, "header")
    if item.status != "published":
        header.set("status", "deleted")
    _oai(header, "identifier", settings.identifier(item.id))
    _oai(header, "datestamp", format_datestamp(datestamp(item)))
    for spec in tree.specs_of(item.collection_id):
        _oai(header, "setSpec", spec)


def _record(
    parent: etree._Element, item: Item, prefix: str, tree: SetTree, settings: OaiSettings
) -> None:
    record = _oai(parent, "record")
    _header(record, item, tree, settings)
    if item.status == "published":
        _oai(record, "metadata").append(WRITERS[prefix](item, settings))


def _format(prefix: str) -> MetadataFormat:
    if prefix not in FORMATS:
        raise OaiError("cannotDisseminateFormat", f"no records in the format {prefix!r}")
    return FORMATS[prefix]


def _item(identifier: str, settings: OaiSettings) -> Item:
    item_id = settings.item_id(identifier)
    item = db.session.get(Item, item_id) if item_id else None
    if item is None or not is_harvestable(item):
        raise OaiError("idDoesNotExist", f"no record has the identifier {identifier!r}")
    return item


def identify(args: dict[str, str], settings: OaiSettings, now: datetime) -> etree._Element:
    node = etree.Element(f"{{{OAI_NS}}}Identify")
    _oai(node, "repositoryName", clean(settings.repository_name))
    _oai(node, "baseURL", settings.base_url)
    _oai(node, "protocolVersion", "2.0")
    for email in settings.emails():
        _oai(node, "adminEmail", email)
    earliest = db.session.execute(db.select(func.min(record_datestamp())).where(harvestable()))
    first = earliest.scalar()
    _oai(node, "earliestDatestamp", format_datestamp(first or now))
    _oai(node, "deletedRecord", "persistent")
    _oai(node, "granularity", GRANULARITY)
    if DOMAIN.match(settings.host):  # the oai-identifier scheme needs a domain name
        description = _oai(node, "description")
        ident = etree.SubElement(
            description, f"{{{OAI_ID_NS}}}oai-identifier", nsmap={None: OAI_ID_NS, "xsi": XSI_NS}
        )
        ident.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_ID_NS} {OAI_ID_NS}.xsd")
        for name, text in (
            ("scheme", "oai"),
            ("repositoryIdentifier", settings.host),
            ("delimiter", ":"),
            ("sampleIdentifier", settings.identifier("abc123def456")),
        ):
            etree.SubElement(ident, f"{{{OAI_ID_NS}}}{name}").text = text
    return node


def list_metadata_formats(
    args: dict[str, str], settings: OaiSettings, now: datetime
) -> etree._Element:
    if "identifier" in args:
        _item(args["identifier"], settings)  # every record has every format
    node = etree.Element(f"{{{OAI_NS}}}ListMetadataFormats")
    for fmt in FORMATS.values():
        entry = _oai(node, "metadataFormat")
        _oai(entry, "metadataPrefix", fmt.prefix)
        _oai(entry, "schema", fmt.schema)
        _oai(entry, "metadataNamespace", fmt.namespace)
    return node


def list_sets(args: dict[str, str], settings: OaiSettings, now: datetime) -> etree._Element:
    """The sets with at least one record, and those above them; all in one answer."""
    if "resumptionToken" in args:
        raise OaiError("badResumptionToken", "the list of sets comes whole: there is no token")
    tree = SetTree.load()
    used = db.session.execute(
        db.select(Item.collection_id).where(harvestable()).distinct()
    ).scalars()
    specs = {spec for cid in used for spec in tree.specs_of(cid)}
    if not specs:
        raise OaiError("noSetHierarchy", "there are no sets yet: nothing has been published")
    node = etree.Element(f"{{{OAI_NS}}}ListSets")
    for found in sorted(tree.sets.values(), key=lambda s: s.spec):
        if found.spec not in specs:
            continue
        entry = _oai(node, "set")
        _oai(entry, "setSpec", found.spec)
        _oai(entry, "setName", found.name)
        descriptions = language_values(found.description)
        if descriptions:
            dc = etree.SubElement(
                _oai(entry, "setDescription"),
                f"{{{OAI_DC_NS}}}dc",
                nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS},
            )
            dc.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_DC_NS} {FORMATS['oai_dc'].schema}")
            for text, lang in descriptions:
                line = etree.SubElement(dc, f"{{{DC_NS}}}description")
                line.text = text
                if lang:
                    line.set(XML_LANG, lang)
    return node


def get_record(args: dict[str, str], settings: OaiSettings, now: datetime) -> etree._Element:
    prefix = _format(args["metadataPrefix"]).prefix
    item = _item(args["identifier"], settings)
    node = etree.Element(f"{{{OAI_NS}}}GetRecord")
    tree = SetTree.load()
    _record(node, item, prefix, tree, settings)
    return node


def _list(verb: str, args: dict[str, str], settings: OaiSettings, now: datetime) -> etree._Element:
    """ListIdentifiers and ListRecords: one page, in (datestamp, id) order."""
    if "resumptionToken" in args:
        selection, position = read_token(args["resumptionToken"], verb, settings, now)
    else:
        selection = Selection(
            verb, args["metadataPrefix"], args.get("set"), args.get("from"), args.get("until")
        )
        position = Position()
    prefix = _format(selection.prefix).prefix
    low, high = date_bounds(selection.start, selection.until)
    stamp = record_datestamp()
    conditions = [harvestable()]
    tree = SetTree.load()
    if selection.set_spec is not None:
        members = tree.members(selection.set_spec)
        if not members:
            raise OaiError("noRecordsMatch", f"there is no set {selection.set_spec!r}")
        conditions.append(Item.collection_id.in_(members))
    if low is not None:
        conditions.append(stamp >= low)
    if high is not None:
        conditions.append(stamp < high)
    total = db.session.execute(
        db.select(func.count()).select_from(Item).where(*conditions)
    ).scalar_one()
    query = db.select(Item).where(*conditions)
    if position.datestamp is not None:
        after = position.datestamp
        query = query.where(or_(stamp > after, and_(stamp == after, Item.id > position.item_id)))
    page_size = max(1, settings.page_size)
    items = list(db.session.execute(query.order_by(stamp, Item.id).limit(page_size + 1)).scalars())
    if not items:
        raise OaiError("noRecordsMatch", "no records match these arguments")
    more, items = len(items) > page_size, items[:page_size]
    node = etree.Element(f"{{{OAI_NS}}}{verb}")
    for item in items:
        if verb == "ListRecords":
            _record(node, item, prefix, tree, settings)
        else:
            _header(node, item, tree, settings)
    if more or position.cursor:
        token = _oai(node, "resumptionToken")
        token.set("completeListSize", str(max(total, position.cursor + len(items))))
        token.set("cursor", str(position.cursor))
        if more:
            last = items[-1]
            following = Position(datestamp(last), last.id, position.cursor + len(items))
            token.text = make_token(selection, following, settings, now)
            expires = now + settings.token_lifetime
            token.set("expirationDate", format_datestamp(expires))
    return node


def list_identifiers(args: dict[str, str], settings: OaiSettings, now: datetime) -> etree._Element:
    return _list("ListIdentifiers", args, settings, now)


def list_records(args: dict[str, str], settings: OaiSettings, now: datetime) -> etree._Element:
    return _list("ListRecords", args, settings, now)


VERBS: dict[str, Callable[[dict[str, str], OaiSettings, datetime], etree._Element]] = {
    "Identify": identify,
    "ListMetadataFormats": list_metadata_formats,
    "ListSets": list_sets,
    "GetRecord": get_record,
    "ListIdentifiers": list_identifiers,
    "ListRecords": list_records,
}


def respond(pairs: Sequence[tuple[str, str]], settings: OaiSettings, now: datetime) -> bytes:
    """The whole answer to one request, as UTF-8 XML; protocol errors are answers too."""
    root = etree.Element(f"{{{OAI_NS}}}OAI-PMH", nsmap={None: OAI_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_NS} {OAI_NS}OAI-PMH.xsd")
    _oai(root, "responseDate", format_datestamp(now))
    echo = _oai(root, "request", settings.base_url)
    try:
        request = parse_request(pairs)
        echo.set("verb", request.verb)
        for key, value in request.args.items():
            echo.set(key, value)
        root.append(VERBS[request.verb](request.args, settings, now))
    except OaiError as error:
        if error.code in ("badVerb", "badArgument"):
            echo.attrib.clear()  # the request is not echoed when it was not understood
        failure = _oai(root, "error", clean(error.message))
        failure.set("code", error.code)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
