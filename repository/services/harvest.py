"""Harvest partners' OAI-PMH endpoints (oai_dc) into the union catalogue.

A partner may be slow, huge, broken or hostile: every request has timeouts and a size
cap, the run has a deadline and a page limit, a resumption token seen twice stops it,
XML with a DOCTYPE is refused, and one bad record is skipped and counted. What a failed
run stored stays (records are idempotent by their OAI identifier); only a run that
completes moves ``harvested_until``, so the next run repeats the window it missed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from lxml import etree

from ..extensions import db
from ..models import Collection, HarvestSource, Item, utcnow
from .audit import record
from .cleaning import MAX_SUMMARY, clean_text, http_url, language_tag
from .errors import Conflict, NotFound, Refused, ServiceError, TooLarge, Unavailable
from .publish import PublishSettings, publish_item, withdraw_item
from .safe_fetch import Fetched, IPNetwork, check_public_host, fetch_bounded
from .union.records import RecordDraft, add_value, apply_draft
from .untrusted_xml import parse_untrusted_xml

if TYPE_CHECKING:
    from ..storage import Storage

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MAX_HARVEST_ID = 500  # Item.harvest_id's size: a longer identifier cannot be kept
_DATESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?\Z")
_RANGE = re.compile(r"(?<!\d)(\d{4})\s*[-–/]\s*(\d{4})(?!\d)")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
# oai_dc elements kept as Dublin Core values (title, description and URLs go elsewhere).
DC_KEPT = (
    "creator",
    "contributor",
    "date",
    "publisher",
    "subject",
    "type",
    "format",
    "language",
    "identifier",
    "source",
    "relation",
    "coverage",
    "rights",
)


@dataclass(frozen=True, slots=True)
class HarvestLimits:
    """What one partner may cost us."""

    connect_timeout: float = 10
    read_timeout: float = 60
    deadline: float = 6 * 3600  # seconds for a whole run
    max_bytes: int = 50 * 1024 * 1024  # per response
    max_pages: int = 100_000
    # Private networks partners may be in (an intranet's); every other non-public
    # address is refused, so a partner's URL or redirect cannot reach our own services.
    allow_networks: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class HarvestResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    pages: int = 0
    problems: tuple[str, ...] = field(default=(), compare=False)  # the first skip reasons


@dataclass(frozen=True, slots=True)
class Identity:
    repository_name: str
    granularity: str  # "YYYY-MM-DD" or "YYYY-MM-DDThh:mm:ssZ"
    response_date: str


Progress = Callable[[int, HarvestResult], None]  # (page number, totals so far)


def _oai(name: str) -> str:
    return f"{{{OAI_NS}}}{name}"


def _text(node: etree._Element | None) -> str:
    return "" if node is None else "".join(node.itertext()).strip()


class _Client:
    """One run's requests: bounded, parsed safely, OAI errors raised."""

    def __init__(self, url: str, session: requests.Session, limits: HarvestLimits) -> None:
        if not http_url(url):
            raise Refused(f"only http and https endpoints can be harvested: {url!r}", code="badUrl")
        self.url = url
        self.session = session
        self.limits = limits
        self.deadline = time.monotonic() + limits.deadline

    def get(self, params: dict[str, str]) -> etree._Element:
        """One OAI-PMH answer, its root checked; OAI errors (but noRecordsMatch) raised as
        ServiceErrors whose code is the OAI-PMH error code, or ours for what went wrong."""
        for _attempt in range(3):
            answer = fetch_bounded(
                self.session,
                self.url,
                params,
                connect_timeout=self.limits.connect_timeout,
                read_timeout=self.limits.read_timeout,
                max_bytes=self.limits.max_bytes,
                deadline=self.deadline,
                accept="text/xml, application/xml",
                allow_networks=self.limits.allow_networks,
            )
            if answer.status == 503:  # flow control: wait as asked, within the deadline
                wait = self._retry_after(answer)
                if wait is not None:
                    time.sleep(wait)
                    continue
            break
        if answer.status != 200:
            raise Unavailable(f"{self.url} answered HTTP {answer.status}", code="httpError")
        root = parse_untrusted_xml(answer.body)  # XmlRefused: unsafeXml or badXml
        if root.tag != _oai("OAI-PMH"):
            raise Unavailable(f"not an OAI-PMH answer (root {root.tag[:80]!r})", code="badResponse")
        error = root.find(_oai("error"))
        if error is not None:
            code = clean_text(error.get("code") or "unknown", 60)
            if code != "noRecordsMatch":
                raise Refused(clean_text(_text(error), 500) or "(no message)", code=code)
        return root

    def _retry_after(self, answer: Fetched) -> float | None:
        """Seconds a 503 asks us to wait (at most 5 minutes), if the deadline allows."""
        if not answer.retry_after.isdigit():
            return None
        wait = min(int(answer.retry_after), 300)
        return wait if time.monotonic() + wait < self.deadline else None

    @staticmethod
    def response_date(root: etree._Element) -> str:
        text = _text(root.find(_oai("responseDate")))
        return text if _DATESTAMP.match(text) else ""


def identify(client: _Client) -> Identity:
    root = client.get({"verb": "Identify"})
    node = root.find(_oai("Identify"))
    if node is None:
        raise Unavailable("the Identify answer has no Identify element", code="badResponse")
    granularity = _text(node.find(_oai("granularity"))) or "YYYY-MM-DD"
    name = clean_text(_text(node.find(_oai("repositoryName"))), 255)
    return Identity(name, granularity, client.response_date(root))


def _dc_values(metadata: etree._Element) -> list[tuple[str, str, str]]:
    """(element, text, language) for each Dublin Core element of an oai_dc record."""
    dc = metadata.find(f"{{{OAI_DC_NS}}}dc")
    if dc is None:
        raise ValueError("no oai_dc:dc in its metadata")
    found = []
    for node in dc:
        if not isinstance(node.tag, str) or not node.tag.startswith(f"{{{DC_NS}}}"):
            continue
        element = node.tag.split("}", 1)[1]
        text = _text(node)
        if text:
            found.append((element, text, language_tag(node.get(XML_LANG))))
    return found


def _years(dates: list[str]) -> tuple[int | None, int | None]:
    for text in dates:
        span = _RANGE.search(text)
        if span and int(span.group(2)) >= int(span.group(1)):
            return int(span.group(1)), int(span.group(2))
        year = _YEAR.search(text)
        if year:
            return int(year.group(1)), None
    return None, None


def oai_dc_draft(metadata: etree._Element) -> RecordDraft:
    """Simple Dublin Core as a record; values keep their xml:lang."""
    title: dict[str, str] = {}
    summaries: dict[str, list[str]] = {}
    dc: dict[str, list[dict[str, str]]] = {}
    source_url = remote_manifest = rights = ""
    dates = []
    for element, text, lang in _dc_values(metadata):
        if element == "title":
            title.setdefault(lang or "vi", clean_text(text))
        elif element == "description":
            summaries.setdefault(lang or "vi", []).append(clean_text(text, MAX_SUMMARY))
        elif element == "identifier" and http_url(text):
            url = http_url(text)
            path = url.split("?", 1)[0].rstrip("/").lower()
            if "/manifest" in path or path.endswith("manifest.json"):
                remote_manifest = remote_manifest or url
            else:
                source_url = source_url or url
        elif element == "rights" and http_url(text):
            rights = rights or http_url(text)
        elif element in DC_KEPT:
            if element == "date":
                dates.append(text)
            add_value(dc, element, text, lang)
    title = {lang: text for lang, text in title.items() if text}
    if not title:
        raise ValueError("no dc:title")
    start, end = _years(dates)
    return RecordDraft(
        title=title,
        summary={
            lang: "\n\n".join(texts)[:MAX_SUMMARY] for lang, texts in summaries.items() if texts
        },
        dc=dc,
        year_start=start,
        year_end=end,
        source_url=source_url,
        remote_manifest=remote_manifest,
        rights=rights,
    )


@dataclass
class _Run:
    source: HarvestSource
    storage: Storage
    settings: PublishSettings
    institution: str
    result: HarvestResult = field(default_factory=HarvestResult)

    def count(self, **changes: int) -> None:
        self.result = replace(
            self.result, **{k: getattr(self.result, k) + v for k, v in changes.items()}
        )

    def skip(self, why: str) -> None:
        problems = self.result.problems
        if len(problems) < 20:
            problems = (*problems, clean_text(why, 300))
        self.result = replace(self.result, skipped=self.result.skipped + 1, problems=problems)

    def record(self, node: etree._Element) -> None:
        header = node.find(_oai("header"))
        identifier = (
            clean_text(_text(header.find(_oai("identifier"))), 2000) if header is not None else ""
        )
        if not identifier:
            self.skip("a record without a header identifier")
            return
        if len(identifier) > MAX_HARVEST_ID:
            self.skip(f"an identifier longer than {MAX_HARVEST_ID} characters")
            return
        existing = db.session.execute(db.select(Item).filter_by(harvest_id=identifier)).scalar()
        if existing is not None and existing.harvest_source_id not in (None, self.source.id):
            self.skip(f"{identifier}: already harvested from another source")
            return
        if header is not None and header.get("status") == "deleted":
            if existing is not None and existing.status != "withdrawn":
                withdraw_item(existing, self.storage, self.settings)
                self.count(deleted=1)
            return
        metadata = node.find(_oai("metadata"))
        try:
            if metadata is None:
                raise ValueError("no metadata")
            draft = oai_dc_draft(metadata)
        except ValueError as exc:
            self.skip(f"{identifier}: {exc}")
            return
        item = existing
        if item is None:
            item = Item(collection_id=self.source.collection_id, status="draft")
            db.session.add(item)
        apply_draft(item, draft, self.institution)
        item.harvest_id = identifier
        item.harvest_source_id = self.source.id
        try:
            db.session.flush()  # a new item gets its id before publishing names it
            publish_item(item, self.storage, self.settings)  # commits; updates republish
        except BaseException:
            db.session.rollback()
            raise
        self.count(created=1 if existing is None else 0, updated=0 if existing is None else 1)


def described(error: BaseException) -> str:
    """A failure as the run's message and the command line show it: its code first."""
    code = error.code if isinstance(error, ServiceError) else ""
    return f"{code}: {error}" if code else str(error)


def _finish(source: HarvestSource, message: str, until: str | None) -> None:
    source.last_run_at = utcnow()
    source.last_message = message[:1000]
    if until is not None:
        source.harvested_until = until
    db.session.commit()


def harvest(
    source: HarvestSource,
    storage: Storage,
    settings: PublishSettings,
    session: requests.Session | None = None,
    progress: Progress | None = None,
    full: bool = False,
    limits: HarvestLimits | None = None,
) -> HarvestResult:
    """Harvest one source: everything since the last complete run (or all, with full).
    A disabled source is refused, and its last run's result left as it was."""
    _check_enabled(source)
    limits = limits or HarvestLimits()
    own = session is None
    session = session or requests.Session()
    if str(session.headers.get("User-Agent", "")).startswith("python-requests"):
        session.headers["User-Agent"] = "TangThu-harvester/1.0"
    source_id = source.id
    run: _Run | None = None
    try:
        if source.metadata_prefix and source.metadata_prefix != "oai_dc":
            raise Refused(
                f"only oai_dc is harvested, not {source.metadata_prefix}",
                code="cannotDisseminateFormat",
            )
        client = _Client(source.url, session, limits)
        identity = identify(client)
        run = _Run(source, storage, settings, source.institution or identity.repository_name)
        params = {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
        if source.set_spec:
            params["set"] = source.set_spec
        if source.harvested_until and not full:
            since = source.harvested_until
            params["from"] = since[:10] if "T" not in identity.granularity else since
        until = ""
        seen: set[str] = set()
        while True:
            if run.result.pages >= limits.max_pages:
                raise TooLarge(f"more than {limits.max_pages} pages", code="tooManyPages")
            root = client.get(params)
            if run.result.pages == 0:
                until = client.response_date(root)
            run.count(pages=1)
            listing = root.find(_oai("ListRecords"))
            if listing is None:  # noRecordsMatch: a normal empty answer
                break
            for node in listing.findall(_oai("record")):
                run.record(node)
            if progress:
                progress(run.result.pages, run.result)
            token = _text(listing.find(_oai("resumptionToken")))
            if not token:
                break
            if token in seen:
                raise Unavailable(
                    "the source sent the same resumption token twice", code="tokenLoop"
                )
            seen.add(token)
            params = {"verb": "ListRecords", "resumptionToken": token}
    except BaseException as exc:
        db.session.rollback()
        source = db.session.get(HarvestSource, source_id) or source
        done = run.result if run else HarvestResult()
        _finish(
            source,
            f"failed after {done.pages} pages ({done.created} created, {done.updated} updated,"
            f" {done.deleted} deleted, {done.skipped} skipped): {described(exc)}",
            None,
        )
        raise
    finally:
        if own:
            session.close()
    result = run.result
    note = "" if until else "; the source gave no usable responseDate, so `from` is not moved"
    _finish(
        source,
        f"complete: {result.created} created, {result.updated} updated, {result.deleted}"
        f" deleted, {result.skipped} skipped in {result.pages} pages{note}",
        until or None,
    )
    return result


# Sources as the admin keeps them: the same address rules as every fetch of them.


def default_slug(url: str) -> str:
    """harvest-<host>[-<port>], in the characters a collection's short name may have."""
    parts = urlsplit(url)
    host = (parts.hostname or "source") + (f"-{parts.port}" if parts.port else "")
    return ("harvest-" + re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-"))[:80]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A source as a curator describes it; ``collection_id`` None: a new harvest-<host>."""

    url: str
    institution: str = ""
    set_spec: str = ""
    collection_id: int | None = None


def check_source_url(url: str, allow_networks: tuple[IPNetwork, ...]) -> str:
    """The address, if it may be harvested: http(s) only, and a host on the public
    internet or in the allowed networks, as fetch_bounded checks it on every request."""
    cleaned = http_url(url)
    if not cleaned or cleaned != url.strip():
        raise Refused(f"not an http(s) address: {url[:200]!r}", code="badUrl")
    check_public_host(cleaned, None, allow_networks)
    return cleaned


def save_source(
    spec: SourceSpec, allow_networks: tuple[IPNetwork, ...], source: HarvestSource | None = None
) -> HarvestSource:
    """Add a source (``source`` None) or change one, after the address is checked."""
    url = check_source_url(spec.url, allow_networks)
    taken = db.session.execute(db.select(HarvestSource).filter_by(url=url)).scalar()
    if taken is not None and taken is not source:
        raise Conflict(f"this address is harvested already: {url[:200]}", code="duplicate")
    if spec.collection_id is None:
        slug = default_slug(url)
        collection = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
        if collection is None:
            collection = Collection(slug=slug, title={"vi": spec.institution or slug})
            db.session.add(collection)
            db.session.flush()
    else:
        collection = db.session.get(Collection, spec.collection_id)
        if collection is None:
            raise Refused("no such collection", code="badArgument")
    if source is None:
        source = HarvestSource(url=url)
        db.session.add(source)
    source.url = url
    source.institution = clean_text(spec.institution, 255)
    source.set_spec = clean_text(spec.set_spec, 200)
    source.collection_id = collection.id
    db.session.commit()
    return source


def delete_source(source: HarvestSource) -> int:
    """Forget a source; the records it brought stay, no longer kept up to date. How many."""
    kept = db.session.execute(
        db.update(Item)
        .where(Item.harvest_source_id == source.id)
        .values(harvest_source_id=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.delete(source)
    db.session.commit()
    return int(kept or 0)


def enabled_sources() -> list[HarvestSource]:
    """The sources a harvest of every source takes, in the order they were added."""
    query = db.select(HarvestSource).filter_by(enabled=True).order_by(HarvestSource.id)
    return list(db.session.execute(query).scalars())


def harvestable(source_id: int) -> HarvestSource:
    """The source, if it may be harvested alone now: it exists and is enabled."""
    source = db.session.get(HarvestSource, source_id)
    if source is None:
        raise NotFound(f"harvest source {source_id} does not exist", code="noSource")
    _check_enabled(source)
    return source


def _check_enabled(source: HarvestSource) -> None:
    if not source.enabled:
        raise Refused(
            f"{source.url[:200]} is disabled: enable it to harvest it", code="sourceDisabled"
        )


def set_source_enabled(
    source: HarvestSource, enabled: bool, actor: str, address: str | None = None
) -> bool:
    """Leave a source out of every harvest, or take it in again; audited. Whether it changed."""
    if source.enabled == enabled:
        return False
    source.enabled = enabled
    db.session.commit()
    action = "harvest-source-enabled" if enabled else "harvest-source-disabled"
    record(action, actor, source.url[:120], "", address)
    return True
