"""The union catalogue: records described here but held elsewhere.

Partners send their catalogue as our own open-data CSV, as MARC 21 (binary or MARCXML),
or point at one IIIF manifest. Each record becomes a metadata-only item (no images)
that names its institution, links to the record at its source and, when it has one,
opens the source's manifest in the viewer. Every file is hostile until checked: sizes
and record counts are capped, XML with a DOCTYPE or entities is refused before it is
read, and only http(s) addresses are kept (they end up in links on our pages). What we
fetch ourselves (OAI-PMH pages, manifests) must be on the public internet, unless the
deployment allows its own networks: a partner's URL cannot make us call our own services.
"""

from __future__ import annotations

import csv
import html
import ipaddress
import json
import re
import socket
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import pymarc
import requests
import urllib3
from lxml import etree

from ..extensions import db
from ..models import Collection, Item
from .publish import DC_LABELS, PublishSettings, publish_item

if TYPE_CHECKING:
    from ..storage import Storage

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_RECORDS = 100_000
MAX_VALUE = 2000  # characters in one Dublin Core value or title
MAX_SUMMARY = 10_000
MAX_VALUES = 100  # values of one element in one record
MAX_URL = 1000  # the columns' size: a longer address is dropped, never cut
MAX_BAD_MARC = 1000  # unreadable records before a file is taken for something else
MAX_MANIFEST_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 5
ALLOW_SETTING = "TANGTHU_HARVEST_ALLOW_NETWORKS"  # named in refusals: the fix is there
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, not is_private
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the last 32 bits are an IPv4 address
DC_ELEMENTS = tuple(DC_LABELS)
_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*\Z")
_TAGGED = re.compile(r"^\[([A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*)\]\s*(.+)$", re.S)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_ROOT_TAG = re.compile(rb"<[A-Za-z_]")


class UnionImportError(ValueError):
    """A file that cannot be imported; nothing of it was. ``problems`` lists why."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class MarcRecordError(ValueError):
    """One MARC record that cannot be read or has no title."""


class ManifestError(ValueError):
    """A URL that does not give a IIIF manifest we can register."""


class UnsafeXmlError(ValueError):
    """XML with a DOCTYPE or entity declarations: refused before anything is expanded."""


class MalformedXmlError(ValueError):
    """Bytes that are not well-formed XML."""


class FetchError(ValueError):
    """A remote answer that is refused: wrong scheme, too slow, too big, not 200."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class RecordDraft:
    """One catalogue record, checked and cleaned, ready to become an item."""

    title: dict[str, str]
    summary: dict[str, str] = field(default_factory=dict)
    dc: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    year_start: int | None = None
    year_end: int | None = None
    source_url: str = ""
    remote_manifest: str = ""
    rights: str = ""


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    skipped: int = 0
    published: int = 0
    problems: tuple[str, ...] = ()
    item_ids: tuple[str, ...] = ()


Progress = Callable[[str, int], None]  # (phase: "read" or "publish", how many more)


# -- cleaning ------------------------------------------------------------------------


def clean_text(value: object, limit: int = MAX_VALUE) -> str:
    """NFC text without control characters, trimmed and cut to ``limit`` characters."""
    text = unicodedata.normalize("NFC", str(value if value is not None else ""))
    return _CONTROL.sub("", text).strip()[:limit].strip()


def http_url(value: object) -> str:
    """The value when it is an http(s) address with a host that fits the columns, else ""."""
    text = clean_text(value, MAX_URL + 1)
    if not text or len(text) > MAX_URL or any(c.isspace() for c in text):
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    return text if parts.scheme.lower() in ("http", "https") and parts.hostname else ""


def language_tag(value: object, default: str = "") -> str:
    text = str(value or "").strip()
    return text if _LANG_TAG.match(text) else default


def year_of(text: str) -> int | None:
    found = _YEAR.search(text)
    return int(found.group(1)) if found else None


def add_value(dc: dict[str, list[dict[str, str]]], element: str, value: object, lang: str) -> None:
    """Append one cleaned value, skipping empties, repeats and values past the cap."""
    text = clean_text(value)
    if not text:
        return
    values = dc.setdefault(element, [])
    entry = {"value": text, "lang": lang}
    if entry not in values and len(values) < MAX_VALUES:
        values.append(entry)


# -- untrusted XML -------------------------------------------------------------------


def safe_parser() -> etree.XMLParser:
    """No entity expansion, no network, no DTD, no huge trees."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _declares_dtd(head: bytes) -> bool:
    """Whether the prolog (what comes before the first element) declares a DOCTYPE."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", "ignore").encode("utf-8")
    root = _ROOT_TAG.search(head)
    return bool(_DECLARATION.search(head[: root.start()] if root else head))


def _refuse_doctype(tree: etree._ElementTree) -> None:
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.system_url:
        raise UnsafeXmlError("XML with a DOCTYPE or entity declarations is refused")


def parse_untrusted_xml(data: bytes) -> etree._Element:
    """Parse XML from outside, refusing DOCTYPEs and entities before anything expands."""
    if _declares_dtd(data[: 1024 * 1024]):
        raise UnsafeXmlError("XML with a DOCTYPE or entity declarations is refused")
    try:
        root = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as exc:
        if "entity" in str(exc).lower():
            raise UnsafeXmlError(f"XML with entities is refused ({exc})") from None
        raise MalformedXmlError(f"not well-formed XML: {exc}") from None
    _refuse_doctype(root.getroottree())
    return root


def check_xml_file(path: Path, record_name: str = "record") -> int:
    """Read an XML file safely (streaming) and count its ``record`` elements."""
    with path.open("rb") as stream:
        if _declares_dtd(stream.read(1024 * 1024)):
            raise UnsafeXmlError("XML with a DOCTYPE or entity declarations is refused")
    count = 0
    checked = False
    context = etree.iterparse(
        str(path),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    try:
        for event, element in context:
            if not checked:
                _refuse_doctype(element.getroottree())
                checked = True
            if event == "end" and etree.QName(element).localname == record_name:
                count += 1
                if count > MAX_RECORDS:
                    raise UnionImportError(f"more than {MAX_RECORDS} records in one file")
                element.clear()
    except etree.XMLSyntaxError as exc:
        if "entity" in str(exc).lower():
            raise UnsafeXmlError(f"XML with entities is refused ({exc})") from None
        raise MalformedXmlError(f"not well-formed XML: {exc}") from None
    return count


# -- bounded HTTP --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes
    content_type: str
    url: str
    status: int
    retry_after: str = ""


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64): where a connection
    to it really goes."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _local_kind(ip: IPAddress) -> str:
    """What makes an address one of ours rather than the internet's, or "" if nothing.

    ``is_global`` alone lets multicast and IPv6 site-local through, hence the list.
    """
    embedded = _embedded_ipv4(ip)
    if embedded is not None:  # judged by where it leads
        return _local_kind(embedded)
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local, where cloud metadata services answer"),
        (ip.is_multicast, "multicast"),
        (ip in _SHARED, "shared, carrier-grade NAT"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local"),
        (not ip.is_global, "not routed on the internet"),
    )
    return next((kind for refused, kind in checks if refused), "")


def _allowed(ip: IPAddress, allow_networks: Iterable[IPNetwork]) -> bool:
    candidates = [ip]
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        candidates.append(embedded)
    return any(
        candidate in network
        for network in allow_networks
        for candidate in candidates
        if candidate.version == network.version
    )


def check_public_host(
    url: str, params: dict[str, str] | None = None, allow_networks: Iterable[IPNetwork] = ()
) -> None:
    """Refuse (FetchError) a URL whose host resolves to any address that is not on the
    public internet, unless that address is in ``allow_networks``.

    The host is taken from the URL as requests prepares it (IDNA, brackets), so what is
    checked is what will be asked for. Every address counts: a name with one public and
    one private address could be reached at either. The connection resolves the name
    again, so a name whose answer changes in between (DNS rebinding) is not caught here.
    """
    try:
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, params)
        parsed = urllib3.util.parse_url(prepared.url or "")
        host = (parsed.host or "").strip("[]")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError):
        raise FetchError("badUrl", f"not an address that can be fetched: {url[:200]!r}") from None
    if not host:
        raise FetchError("badUrl", f"no host in {url[:200]!r}")
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FetchError(
            "httpError",
            f"cannot fetch {url[:200]}: the name {host} does not resolve ({reason});"
            " check the address",
        ) from None
    allow = tuple(allow_networks)
    for *_rest, sockaddr in found:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        kind = _local_kind(ip)
        if kind and not _allowed(ip, allow):
            try:
                literal = ipaddress.ip_address(host.split("%", 1)[0]) == ip
            except ValueError:
                literal = False
            leads = _embedded_ipv4(ip)
            shown = f"{ip} (that is, {leads})" if leads else str(ip)
            named = f"{shown} is" if literal else f"{host} resolves to {shown},"
            entry = ipaddress.ip_network(leads or ip)  # a single address, as a network
            raise FetchError(
                "badUrl",
                f"{named} a private or local address ({kind}), which is refused; to harvest"
                f" inside your own network, add it (e.g. {entry}) to {ALLOW_SETTING}",
            )


def fetch_bounded(
    session: requests.Session,
    url: str,
    params: dict[str, str] | None = None,
    *,
    connect_timeout: float = 10,
    read_timeout: float = 30,
    max_bytes: int = MAX_MANIFEST_BYTES,
    deadline: float | None = None,
    accept: str = "*/*",
    allow_networks: Iterable[IPNetwork] = (),
) -> Fetched:
    """GET an http(s) URL, streamed: refused past ``max_bytes`` or past ``deadline``.

    Redirects (at most five) are followed here, not by requests, which would read a
    redirect's whole body, and each one must stay on http(s). Every hop's host must be
    on the public internet or in ``allow_networks`` (see check_public_host).
    """
    for _hop in range(MAX_REDIRECTS + 1):
        if not http_url(url):
            raise FetchError("badUrl", f"only http and https addresses can be fetched: {url!r}")
        check_public_host(url, params, allow_networks)
        if deadline is not None and time.monotonic() >= deadline:
            raise FetchError("timeout", "the time allowed for this run is over")
        read = read_timeout
        if deadline is not None:
            read = max(0.1, min(read_timeout, deadline - time.monotonic()))
        try:
            with session.get(
                url,
                params=params,
                stream=True,
                timeout=(connect_timeout, read),
                headers={"Accept": accept},
                allow_redirects=False,
            ) as response:
                location = response.headers.get("Location", "")
                if response.is_redirect and location:
                    url, params = urljoin(response.url, location), None
                    continue
                return _read_bounded(response, max_bytes, deadline)
        except (requests.Timeout, urllib3.exceptions.TimeoutError):
            raise FetchError("timeout", f"no answer from {url} in time") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise FetchError("httpError", f"cannot fetch {url}: {exc.__class__.__name__}") from None
    raise FetchError("httpError", f"more than {MAX_REDIRECTS} redirects")


def _read_bounded(response: requests.Response, max_bytes: int, deadline: float | None) -> Fetched:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError("tooLarge", f"the answer is larger than {max_bytes} bytes")
    chunks, size = [], 0
    while True:  # read1: whatever has come, so a trickle cannot outlast the deadline
        chunk = response.raw.read1(64 * 1024, decode_content=True)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise FetchError("tooLarge", f"the answer is larger than {max_bytes} bytes")
        if deadline is not None and time.monotonic() > deadline:
            raise FetchError("timeout", "the answer did not end in the time allowed")
        chunks.append(chunk)
    return Fetched(
        b"".join(chunks),
        response.headers.get("Content-Type", ""),
        response.url,
        response.status_code,
        response.headers.get("Retry-After", "").strip(),
    )


# -- saving --------------------------------------------------------------------------


def apply_draft(item: Item, draft: RecordDraft, institution: str) -> None:
    """Describe the item as the draft says; it stays open and without pages of ours."""
    item.title = dict(draft.title)
    item.summary = dict(draft.summary)
    item.dc = {element: list(values) for element, values in draft.dc.items()}
    item.year_start, item.year_end = draft.year_start, draft.year_end
    item.source_url = draft.source_url
    item.remote_manifest = draft.remote_manifest
    item.rights = draft.rights if len(draft.rights) <= 255 else ""  # the column holds a URI
    item.source_institution = clean_text(institution, 255)
    item.access = "open"


def _publisher(storage: Storage | None, settings: PublishSettings | None) -> tuple[Any, Any]:
    if storage is None or settings is None:
        from .. import get_storage
        from ..web import publish_settings

        return storage or get_storage(), settings or publish_settings()
    return storage, settings


def _save(
    drafts: list[RecordDraft],
    collection: Collection,
    institution: str,
    publish: bool,
    storage: Storage | None,
    settings: PublishSettings | None,
    progress: Progress | None,
) -> tuple[int, int, int, list[str]]:
    """All drafts in one transaction; a record already here (same source URL or
    manifest in this collection) is updated rather than made twice."""
    try:
        db.session.add(collection)
        db.session.flush()
        known: dict[str, Item] = {}
        for item in db.session.execute(
            db.select(Item).where(
                Item.collection_id == collection.id,
                (Item.source_url != "") | (Item.remote_manifest != ""),
            )
        ).scalars():
            for key in (item.source_url, item.remote_manifest):
                if key:
                    known.setdefault(key, item)
        created = updated = 0
        items: dict[int, Item] = {}  # by identity, in file order: a repeat updates
        for draft in drafts:
            key = draft.source_url or draft.remote_manifest
            item = known.get(key) if key else None
            if item is None:
                item = Item(collection_id=collection.id, status="draft")
                db.session.add(item)
                created += 1
            else:
                updated += 1
            apply_draft(item, draft, institution)
            if key:
                known[key] = item
            items.setdefault(id(item), item)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    ids = [item.id for item in items.values()]
    published = 0
    if publish and items:
        storage, settings = _publisher(storage, settings)
        for item in items.values():
            publish_item(item, storage, settings)
            published += 1
            if progress:
                progress("publish", 1)
    return created, updated, published, ids


def _file_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnionImportError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if size > MAX_FILE_BYTES:
        raise UnionImportError(f"{path.name}: larger than {MAX_FILE_BYTES // 2**20} MB")


# -- CSV (our own open-data export) ----------------------------------------------------

MULTI_COLUMNS = ("creator", "date", "language", "type", "subject", "identifier", "publisher")


def _split_values(text: str) -> list[tuple[str, str]]:
    """' | '-joined values; each may start with a language tag: "[lzh] 斷腸新聲"."""
    found = []
    for part in text.split("|"):
        part = part.strip()
        tagged = _TAGGED.match(part)
        if tagged:
            found.append((tagged.group(2).strip(), tagged.group(1)))
        elif part:
            found.append((part, ""))
    return found


def _csv_year(row: dict[str, str], column: str) -> int | None:
    text = clean_text(row.get(column))
    if not text:
        return None
    if not re.fullmatch(r"-?\d{1,4}", text):
        raise ValueError(f"{column} is not a year: {text[:20]!r}")
    return int(text)


def csv_draft(row: dict[str, str]) -> RecordDraft:
    """One row of the open-data CSV (see linked_data.CSV_COLUMNS) as a record."""
    title = {
        lang: text
        for lang, text in (
            ("vi", clean_text(row.get("title_vi"))),
            ("en", clean_text(row.get("title_en"))),
        )
        if text
    }
    if not title:
        raise ValueError("no title (title_vi and title_en are empty)")
    dc: dict[str, list[dict[str, str]]] = {}
    for column in MULTI_COLUMNS:
        for value, lang in _split_values(clean_text(row.get(column), MAX_SUMMARY)):
            add_value(dc, column, value, lang)
    start, end = _csv_year(row, "year_start"), _csv_year(row, "year_end")
    if start is not None and end is not None and end < start:
        raise ValueError("year_end is before year_start")
    if start is None and end is None:  # the date as found stays; its year is searchable
        start = next((y for y in (year_of(v["value"]) for v in dc.get("date", [])) if y), None)
    links = {}
    for column in ("url", "manifest"):
        text = clean_text(row.get(column), MAX_URL + 1)
        if text and not http_url(text):
            raise ValueError(f"{column} is not an http(s) address of at most {MAX_URL} characters")
        links[column] = text
    if clean_text(row.get("pages")) == "0":
        links["manifest"] = ""  # the partner has no pages for it: its manifest URL is a 404
    description = clean_text(row.get("description"), MAX_SUMMARY)
    return RecordDraft(
        title=title,
        summary={"vi": description} if description else {},
        dc=dc,
        year_start=start,
        year_end=end,
        source_url=links["url"],
        remote_manifest=links["manifest"],
        rights=http_url(row.get("rights")),
    )


def read_csv_records(path: Path) -> list[RecordDraft]:
    """Every row as a record, or UnionImportError listing every bad row."""
    _file_size(path)
    drafts: list[RecordDraft] = []
    problems: list[str] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            columns = set(reader.fieldnames or ())
            if not columns & {"title_vi", "title_en"}:
                raise UnionImportError(
                    f"{path.name}: not an open-data CSV: the header needs title_vi or title_en"
                    " (columns: " + ", ".join(("id", "url", "manifest", "title_vi", "...")) + ")"
                )
            for number, row in enumerate(reader, start=1):
                if number > MAX_RECORDS:
                    raise UnionImportError(f"{path.name}: more than {MAX_RECORDS} rows")
                try:
                    drafts.append(csv_draft(row))
                except ValueError as exc:
                    problems.append(f"row {number} (line {reader.line_num}): {exc}")
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UnionImportError(f"{path.name}: not a UTF-8 CSV file ({exc})") from None
    except OSError as exc:
        raise UnionImportError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if problems:
        raise UnionImportError(
            f"{path.name}: {len(problems)} bad rows; nothing was imported", problems
        )
    return drafts


def import_csv(
    path: Path,
    collection: Collection,
    institution: str = "",
    publish: bool = False,
    *,
    storage: Storage | None = None,
    settings: PublishSettings | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import an open-data CSV: all rows or, if any row is bad, none."""
    drafts = read_csv_records(Path(path))
    if progress:
        progress("read", len(drafts))
    created, updated, published, ids = _save(
        drafts, collection, institution, publish, storage, settings, progress
    )
    return ImportResult(created, updated, 0, published, (), tuple(ids))


# -- MARC 21 ---------------------------------------------------------------------------

_TRAILING = " /:;,.="


def _trim(text: str) -> str:
    return clean_text(text).rstrip(_TRAILING).strip()


def _joined(field_: pymarc.Field, codes: str, separator: str = " ") -> str:
    """Subfields in order: a name keeps its inner punctuation ("Nguyễn Du, 1765-1820"),
    headings are joined with ``separator`` ("Thơ Nôm -- Lịch sử")."""
    values = [clean_text(value) for value in field_.get_subfields(*codes)]
    if separator == " ":
        return _trim(" ".join(value for value in values if value))
    return separator.join(part for part in map(_trim, values) if part)


def _data_fields(record: pymarc.Record, *tags: str) -> list[pymarc.Field]:
    return [f for f in record.get_fields(*tags) if not f.is_control_field()]


def _is_manifest_url(url: str) -> bool:
    path = urlsplit(url).path.rstrip("/").lower()
    return path.endswith(("manifest", "manifest.json"))


def marc_draft(record: pymarc.Record) -> RecordDraft:
    """MARC 21 bibliographic data as Dublin Core; values in Vietnamese when unsure."""
    title = ""
    for field_ in _data_fields(record, "245"):
        title = " : ".join(part for part in (_joined(field_, "a"), _joined(field_, "b")) if part)
        if title:
            break
    if not title:
        raise MarcRecordError("no title (245 $a)")
    dc: dict[str, list[dict[str, str]]] = {}
    for tag, codes in (("100", "abcqd"), ("110", "ab"), ("111", "acdn")):
        for field_ in _data_fields(record, tag):
            add_value(dc, "creator", _joined(field_, codes), "vi")
    for tag, codes in (("700", "abcqd"), ("710", "ab"), ("711", "acdn")):
        for field_ in _data_fields(record, tag):
            add_value(dc, "contributor", _joined(field_, codes), "vi")
    dates: list[str] = []
    for field_ in _data_fields(record, "260", "264"):
        for value in field_.get_subfields("b"):
            add_value(dc, "publisher", _trim(value), "vi")
        for value in field_.get_subfields("c"):
            dates.append(_trim(value))
            add_value(dc, "date", _trim(value), "vi")
    for field_ in _data_fields(record, "300"):
        add_value(dc, "format", _joined(field_, "abc"), "vi")
    for field_ in _data_fields(record, "500"):
        add_value(dc, "description", clean_text(" ".join(field_.get_subfields("a"))), "vi")
    summaries = [
        clean_text(" ".join(field_.get_subfields("a", "b")), MAX_SUMMARY)
        for field_ in _data_fields(record, "520")
    ]
    for field_ in _data_fields(record, "041"):
        for code in field_.get_subfields("a"):
            code = clean_text(code).lower()
            chunks = [code[i : i + 3] for i in range(0, len(code), 3)] if code.isalpha() else [code]
            for chunk in chunks:
                add_value(dc, "language", chunk, "")
    for field_ in _data_fields(record, "546"):
        add_value(dc, "language", _joined(field_, "a"), "vi")
    fixed = ""
    control = record.get_fields("008")
    if control and control[0].is_control_field():
        fixed = str(control[0].data or "")
    if "language" not in dc and len(fixed) >= 38:
        code = fixed[35:38].strip().lower()
        if code.isalpha() and code not in ("und", "zxx", "mul"):
            add_value(dc, "language", code, "")
    for tag in ("600", "610", "650"):
        for field_ in _data_fields(record, tag):
            add_value(dc, "subject", _joined(field_, "abcdtxyzv", " -- "), "vi")
    for field_ in _data_fields(record, "651"):
        add_value(dc, "coverage", _joined(field_, "axyzv", " -- "), "vi")
    for field_ in _data_fields(record, "655"):
        add_value(dc, "type", _joined(field_, "a"), "vi")
    for tag in ("020", "022", "024"):
        for field_ in _data_fields(record, tag):
            for value in field_.get_subfields("a"):
                add_value(dc, "identifier", _trim(value), "")
    for field_ in _data_fields(record, "090", "099"):
        add_value(dc, "identifier", _joined(field_, "ab"), "")
    source_url = remote_manifest = ""
    for field_ in _data_fields(record, "856"):
        notes = " ".join(field_.get_subfields("3", "y", "z")).lower()
        for value in field_.get_subfields("u"):
            url = http_url(value)
            if not url:
                continue
            if _is_manifest_url(url) or "iiif" in notes:
                remote_manifest = remote_manifest or url
            else:
                source_url = source_url or url
    rights = ""
    for field_ in _data_fields(record, "540", "506"):
        for value in field_.get_subfields("u", "a"):
            rights = rights or http_url(value)
    start = end = None
    if len(fixed) >= 15:
        if fixed[7:11].isdigit():
            start = int(fixed[7:11])
        if fixed[6] in "ikmq" and fixed[11:15].isdigit() and start is not None:
            end = int(fixed[11:15]) if int(fixed[11:15]) >= start else None
    if start is None:
        start = next((year for year in map(year_of, dates) if year is not None), None)
    summary = "\n\n".join(text for text in summaries if text)[:MAX_SUMMARY]
    return RecordDraft(
        title={"vi": clean_text(title)},
        summary={"vi": summary} if summary else {},
        dc=dc,
        year_start=start,
        year_end=end,
        source_url=source_url,
        remote_manifest=remote_manifest,
        rights=rights,
    )


def _utf8(chunk: bytes | None) -> bool:
    """Whether a record's bytes are UTF-8 with something beyond ASCII in them."""
    if not chunk or max(chunk) < 0x80:
        return False
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _binary_records(stream: BinaryIO) -> Iterator[pymarc.Record | MarcRecordError]:
    """Records from MARC 21 transmission format; each unreadable one as an error."""
    reader = pymarc.MARCReader(
        stream, to_unicode=True, utf8_handling="replace", hide_utf8_warnings=True
    )
    number = 0
    while True:
        number += 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except Exception as exc:  # pymarc raises more than its own errors on bad bytes
            yield MarcRecordError(f"record {number}: unreadable ({exc.__class__.__name__})")
            return
        problem = reader.current_exception
        if record is None:
            name = problem.__class__.__name__ if problem else "unreadable"
            yield MarcRecordError(f"record {number}: unreadable ({name})")
            if isinstance(problem, pymarc.RecordLengthInvalid | pymarc.TruncatedRecord):
                return  # the rest of the file cannot be found again
            continue
        if record.leader[9] != "a" and _utf8(reader.current_chunk):
            # UTF-8 without the leader saying so, as many systems write it
            try:
                record = pymarc.Record(
                    data=reader.current_chunk,
                    force_utf8=True,
                    utf8_handling="replace",
                    hide_utf8_warnings=True,
                )
            except Exception as exc:
                yield MarcRecordError(f"record {number}: unreadable ({exc.__class__.__name__})")
                continue
        yield record


def _xml_records(path: Path) -> Iterator[pymarc.Record | MarcRecordError]:
    check_xml_file(path)
    try:
        records = pymarc.parse_xml_to_array(str(path), normalize_form="NFC")  # type: ignore[no-untyped-call]
    except Exception as exc:  # SAX errors and pymarc's own on bad leaders or fields
        raise UnionImportError(f"{path.name}: not MARCXML ({exc})") from None
    yield from records


def _is_xml(path: Path) -> bool:
    with path.open("rb") as stream:
        head = stream.read(512).lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"<") or head.startswith((b"\xff\xfe", b"\xfe\xff"))


def read_marc_records(
    path: Path, progress: Progress | None = None
) -> tuple[list[RecordDraft], list[str]]:
    """Records from a .mrc (MARC 21) or .xml (MARCXML) file, and what could not be read."""
    _file_size(path)
    drafts: list[RecordDraft] = []
    problems: list[str] = []
    try:
        with path.open("rb") as stream:
            xml = _is_xml(path)
            source = _xml_records(path) if xml else _binary_records(stream)
            for number, record in enumerate(source, start=1):
                if number > MAX_RECORDS:
                    raise UnionImportError(f"{path.name}: more than {MAX_RECORDS} records")
                if progress:
                    progress("read", 1)
                try:
                    if isinstance(record, MarcRecordError):
                        raise record
                    if record is None:
                        raise MarcRecordError(f"record {number}: unreadable")
                    drafts.append(marc_draft(record))
                except MarcRecordError as exc:
                    text = str(exc)
                    problems.append(
                        text if text.startswith("record ") else f"record {number}: {text}"
                    )
                    if len(problems) >= MAX_BAD_MARC:
                        raise UnionImportError(
                            f"{path.name}: {len(problems)} unreadable records; is it MARC 21?",
                            problems[:20],
                        ) from None
    except (UnsafeXmlError, MalformedXmlError) as exc:
        raise UnionImportError(f"{path.name}: {exc}; nothing was imported") from None
    except OSError as exc:
        raise UnionImportError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if not drafts:
        raise UnionImportError(
            f"{path.name}: no readable MARC records; nothing was imported", problems[:20]
        )
    return drafts, problems


def import_marc(
    path: Path,
    collection: Collection,
    institution: str = "",
    publish: bool = False,
    *,
    storage: Storage | None = None,
    settings: PublishSettings | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import MARC 21 or MARCXML: readable records in one transaction; the unreadable
    ones are skipped and reported."""
    drafts, problems = read_marc_records(Path(path), progress)
    created, updated, published, ids = _save(
        drafts, collection, institution, publish, storage, settings, progress
    )
    return ImportResult(created, updated, len(problems), published, tuple(problems), tuple(ids))


# -- one remote IIIF manifest ----------------------------------------------------------

_HTML_TAG = re.compile(r"<[^>]*>")
# Labels of manifest metadata (any language, lower case) and the element they fill.
METADATA_ELEMENTS: dict[str, str] = {
    **{
        label.lower(): element for element, labels in DC_LABELS.items() for label in labels.values()
    },
    "author": "creator",
    "authors": "creator",
    "tác giả": "creator",
    "published": "date",
    "publication date": "date",
    "năm": "date",
    "subjects": "subject",
    "languages": "language",
    "identifiers": "identifier",
    "shelfmark": "identifier",
    "call number": "identifier",
    "license": "rights",
    "place": "coverage",
}


def _strings(value: Any) -> list[tuple[str, str]]:
    """(text, language) pairs from a P3 language map or P2 strings and @value objects."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        found.append((value, ""))
    elif isinstance(value, dict) and "@value" in value:
        found.append((str(value["@value"]), language_tag(value.get("@language"))))
    elif isinstance(value, dict):
        for lang, texts in value.items():
            for text in texts if isinstance(texts, list) else [texts]:
                if isinstance(text, str):
                    found.append((text, "" if lang == "none" else language_tag(lang)))
    elif isinstance(value, list):
        for entry in value[:MAX_VALUES]:
            found += _strings(entry)
    cleaned = []
    for text, lang in found:
        plain = clean_text(html.unescape(_HTML_TAG.sub(" ", text)))
        if plain:
            cleaned.append((re.sub(r"\s+", " ", plain), lang))
    return cleaned


def _language_map(value: Any, limit: int = MAX_VALUE) -> dict[str, str]:
    """The first text in each language; untagged text counts as Vietnamese."""
    found: dict[str, str] = {}
    for text, lang in _strings(value):
        found.setdefault(lang or "vi", text[:limit])
    return found


def _link(value: Any) -> str:
    """The first http(s) address among P3 homepage objects or P2 related values."""
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, str) and http_url(entry):
            return http_url(entry)
        if isinstance(entry, dict):
            url = http_url(entry.get("id") or entry.get("@id") or "")
            if url:
                return url
    return ""


def manifest_draft(document: Any, url: str) -> tuple[RecordDraft, str]:
    """A IIIF Presentation 3 or 2.1 manifest as a record, and its provider's name."""
    if not isinstance(document, dict):
        raise ManifestError("this JSON is not a IIIF manifest (not an object)")
    kind = document.get("type") or document.get("@type") or ""
    if kind not in ("Manifest", "sc:Manifest"):
        shown = kind if isinstance(kind, str) and kind else "no type"
        raise ManifestError(f"this JSON is not a IIIF manifest ({clean_text(shown, 60)})")
    title = _language_map(document.get("label"))
    if not title:
        raise ManifestError("this manifest has no label to use as a title")
    summary = _language_map(document.get("summary") or document.get("description"), MAX_SUMMARY)
    dc: dict[str, list[dict[str, str]]] = {}
    entries = document.get("metadata")
    for entry in entries[:500] if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        labels = [text.lower().strip(" :") for text, _ in _strings(entry.get("label"))]
        element = next((METADATA_ELEMENTS[k] for k in labels if k in METADATA_ELEMENTS), None)
        values = _strings(entry.get("value"))
        if element is None and labels and values:
            element = "description"
            values = [(f"{labels[0]}: {text}", lang) for text, lang in values]
        for text, lang in values:
            if element:
                add_value(dc, element, text, lang)
    year_start = None
    nav_date = document.get("navDate")
    if isinstance(nav_date, str):
        year_start = year_of(nav_date[:10])
    if year_start is None:
        year_start = next(
            (y for y in (year_of(v["value"]) for v in dc.get("date", [])) if y is not None), None
        )
    rights = http_url(document.get("rights") or document.get("license") or "")
    provider = ""
    providers = document.get("provider")
    if isinstance(providers, list) and providers and isinstance(providers[0], dict):
        provider = next(iter(_language_map(providers[0].get("label")).values()), "")
    if not provider and document.get("attribution"):
        provider = next(iter(_language_map(document.get("attribution")).values()), "")
    draft = RecordDraft(
        title=title,
        summary=summary,
        dc=dc,
        year_start=year_start,
        source_url=_link(document.get("homepage")) or _link(document.get("related")),
        remote_manifest=url,
        rights=rights,
    )
    return draft, clean_text(provider, 255)


def fetch_manifest(
    url: str,
    session: requests.Session | None = None,
    *,
    connect_timeout: float = 10,
    read_timeout: float = 30,
    max_bytes: int = MAX_MANIFEST_BYTES,
    allow_networks: Iterable[IPNetwork] = (),
) -> Any:
    """The JSON a manifest URL answers with, or ManifestError saying why not.

    Only from the public internet or ``allow_networks``, as fetch_bounded decides.
    """
    if not http_url(url):
        raise ManifestError(f"only http and https manifest addresses are accepted: {url[:200]!r}")
    own = session is None
    session = session or requests.Session()
    try:
        answer = fetch_bounded(
            session,
            url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_bytes=max_bytes,
            deadline=time.monotonic() + connect_timeout + read_timeout * 2,
            accept="application/ld+json, application/json;q=0.9",
            allow_networks=allow_networks,
        )
    except FetchError as exc:
        raise ManifestError(f"cannot register {url}: {exc}") from None
    finally:
        if own:
            session.close()
    if answer.status != 200:
        raise ManifestError(f"{url} answered HTTP {answer.status}, not a manifest")
    media = answer.content_type.split(";")[0].strip().lower()
    if "json" not in media:
        raise ManifestError(f"{url} is not JSON ({media or 'no content type'}), not a manifest")
    try:
        return json.loads(answer.body)
    except (ValueError, RecursionError):
        raise ManifestError(f"{url} is not valid JSON") from None


def register_manifest(
    url: str,
    collection: Collection,
    institution: str = "",
    publish: bool = True,
    *,
    storage: Storage | None = None,
    settings: PublishSettings | None = None,
    session: requests.Session | None = None,
    allow_networks: Iterable[IPNetwork] = (),
) -> Item:
    """Describe a remote IIIF manifest here; registering the same URL again updates it.

    ``allow_networks``: private networks it may be fetched from (none by default).
    """
    url = clean_text(url, MAX_URL + 1)
    document = fetch_manifest(url, session, allow_networks=allow_networks)
    draft, provider = manifest_draft(document, url)
    try:
        db.session.add(collection)
        db.session.flush()
        item = db.session.execute(
            db.select(Item).filter_by(collection_id=collection.id, remote_manifest=url)
        ).scalar()
        if item is None:
            item = Item(collection_id=collection.id, status="draft")
            db.session.add(item)
        apply_draft(item, draft, institution or provider)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    if publish:
        storage, settings = _publisher(storage, settings)
        publish_item(item, storage, settings)
    return item
