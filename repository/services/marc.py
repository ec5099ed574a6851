"""MARC 21 and Dublin Core, both ways: partners' records in, our items out.

``marc_draft`` reads a partner's bibliographic record as a union-catalogue draft (values
in Vietnamese when unsure); ``marc_record`` writes one of our items as a minimal-level
record for OAI-PMH's ``marcxml``. Reading whole files is ``union/marc_import.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pymarc
from lxml import etree

from manifests import Urls

from ..models import Item
from .cleaning import MAX_SUMMARY, clean_text, http_url, year_of
from .errors import Refused
from .record_values import clean, datestamp, dc_values, language_values, years
from .union.records import RecordDraft, add_value


class MarcRecordError(Refused):
    """One MARC record that cannot be read or has no title."""


# -- in: a partner's record as a draft ----------------------------------------------

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


# -- out: our item as a record ----------------------------------------------------------

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
    "vi-hani": "vie",
    "vi-latn": "vie",
    "zh-hant": "chi",
    "zh-hans": "chi",
    "zh-hani": "chi",
}
# Tags written in Chinese characters (chữ Hán, chữ Nôm, kana, hangul): MARC's CJK script,
# whose identification code in $6 is "$1".
CJK_SCRIPTS = {"Hani", "Hant", "Hans", "Jpan", "Kore", "Hira", "Kana", "Hang"}
CJK_LANGUAGES = {"zh", "lzh", "cmn", "yue", "ja", "ko"}


def is_cjk(tag: str | None) -> bool:
    """Whether a language tag says the text is in CJK script ("vi-Hani", "lzh", not "vi")."""
    parts = (tag or "").split("-")
    if any(part.title() == "Latn" for part in parts[1:]):
        return False
    return parts[0].lower() in CJK_LANGUAGES or any(p.title() in CJK_SCRIPTS for p in parts[1:])


Emit = Callable[..., None]
Vernacular = list[tuple[str, tuple[str, str], tuple[str, str]]]  # 880s, written last


def _titles(item: Item, data: Emit, indicators: str) -> Vernacular:
    """245 and 246 in Latin script; each title in Chinese characters in an 880.

    As a cataloguer expects of a CJK record (LC's "model A"): the Quốc ngữ title is the
    title proper (245); its Nôm form (vi-Hani, else the first in Chinese characters) is
    its alternate graphic representation, an 880 linked both ways through $6 ("880-01",
    "245-01/$1"); other titles in Chinese characters (lzh, zh) are parallel titles,
    880s for a 246 with no Latin field ("246-00/$1"). With no Latin title at all, the
    first title is the 245 as it is written.
    """
    titles = language_values(item.title) or [(item.id, None)]
    latin = [pair for pair in titles if not is_cjk(pair[1])]
    cjk = sorted(
        (pair for pair in titles if is_cjk(pair[1])),
        key=lambda pair: (pair[1] or "").lower() != "vi-hani",
    )
    if not latin:
        data("245", indicators, ("a", titles[0][0]))
        for text, _ in titles[1:]:
            data("246", "31", ("a", text))
        return []
    vernacular: Vernacular = []
    if cjk:
        data("245", indicators, ("6", "880-01"), ("a", latin[0][0]))
        vernacular.append((indicators, ("6", "245-01/$1"), ("a", cjk[0][0])))
    else:
        data("245", indicators, ("a", latin[0][0]))
    for text, _ in latin[1:]:
        data("246", "31", ("a", text))
    for text, _ in cjk[1:]:
        vernacular.append(("31", ("6", "246-00/$1"), ("a", text)))
    return vernacular


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


def marc_record(item: Item, urls: Urls, default_rights: str = "") -> pymarc.Record:
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
    vernacular = _titles(item, data, "10" if creators else "00")
    publishers = [("b", text) for text, _ in dc_values(item, "publisher")]
    dates = [("c", text) for text, _ in dc_values(item, "date")] or (
        [("c", years(item))] if years(item) else []
    )
    if publishers or dates:
        data("264", " 1", *publishers, *dates)
    for text, _ in dc_values(item, "format"):
        data("300", "  ", ("a", text))
    for text, _ in dc_values(item, "description"):
        data("500", "  ", ("a", text))
    for text, _ in language_values(item.summary):
        data("520", "  ", ("a", text))
    rights = item.rights or default_rights
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
        ("u", urls.item_page(item.id)),
    )
    data(
        "856",
        "40",
        ("3", "IIIF Presentation manifest"),
        ("q", "application/ld+json"),
        ("u", urls.manifest(item.id)),
    )
    for indicators, *subfields in vernacular:
        data("880", indicators, *subfields)
    return record


def marcxml(item: Item, urls: Urls, default_rights: str = "") -> etree._Element:
    """MARC 21 slim XML, as pymarc writes it."""
    record = marc_record(item, urls, default_rights)
    return etree.fromstring(pymarc.record_to_xml(record, namespace=True))
