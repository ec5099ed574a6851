"""Citations of an item in the formats reference managers read: RIS, BibTeX, CSL-JSON,
and the Highwire Press ``citation_*`` tags that Zotero finds on the item page.

A pure function of the item's record: titles keep their languages and scripts (a Hán
title stays in Han characters), and nothing a curator or a harvested partner typed can
break out of its field (newlines end RIS records, braces and backslashes BibTeX ones).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..models import Item

YEAR = re.compile(r"\b(\d{3,4})\b")


@dataclass(frozen=True, slots=True)
class Citation:
    """What every format is written from."""

    item_id: str
    title: str  # in the reader's language where there is one
    other_titles: tuple[tuple[str, str], ...]  # (language tag, title), the rest
    creators: tuple[str, ...]
    issued: str  # the date as catalogued: "1697", "thế kỷ 19", "1800-1850"
    year: int | None
    publisher: str  # the library that holds it
    place: str
    url: str
    identifier: str  # a call number or other identifier
    languages: tuple[str, ...]
    subjects: tuple[str, ...]
    kind: str  # the Dublin Core type, as catalogued
    accessed: date


def citation_of(
    item: Item, url: str, library: str, locale: str, accessed: date | None = None
) -> Citation:
    def values(element: str) -> tuple[str, ...]:
        found = (one_line(str(e.get("value", ""))) for e in item.dc.get(element, []))
        return tuple(v for v in found if v)

    titles = [(lang, one_line(text)) for lang, text in item.title.items() if one_line(text)]
    order = {lang: n for n, lang in enumerate((locale, "vi", "en"))}
    titles.sort(key=lambda pair: order.get(pair[0], len(order)))
    dates = values("date")
    year = item.year_start
    if year is None and dates:
        match = YEAR.search(dates[0])
        year = int(match.group(1)) if match else None
    return Citation(
        item_id=item.id,
        title=titles[0][1] if titles else item.id,
        other_titles=tuple(titles[1:]),
        creators=values("creator"),
        issued=dates[0] if dates else (str(year) if year is not None else ""),
        year=year,
        publisher=one_line(library),
        place=(values("coverage") or ("",))[0],
        url=url,
        identifier=(values("identifier") or ("",))[0],
        languages=values("language"),
        subjects=values("subject"),
        kind=(values("type") or ("",))[0],
        accessed=accessed or date.today(),
    )


def one_line(text: str) -> str:
    """Control characters and line breaks become spaces; runs of space become one."""
    cleaned = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in str(text))
    return " ".join(cleaned.split())


# -- RIS -----------------------------------------------------------------------------------


def ris(citation: Citation) -> str:
    """RIS (Research Information Systems): one tag a line, ``ER`` ends the record."""
    kind = "MANSCPT" if _is_manuscript(citation.kind) else "BOOK"
    lines = [("TY", kind), ("TI", citation.title)]
    lines += [("TT", title) for _, title in citation.other_titles]
    lines += [("AU", creator) for creator in citation.creators]
    if citation.year is not None:
        lines.append(("PY", str(citation.year)))
    if citation.issued:
        lines.append(("DA", citation.issued))
    lines += [("PB", citation.publisher), ("CY", citation.place), ("CN", citation.identifier)]
    lines += [("LA", language) for language in citation.languages]
    lines += [("KW", subject) for subject in citation.subjects]
    lines += [("UR", citation.url), ("Y2", citation.accessed.isoformat()), ("ER", "")]
    return "".join(f"{tag}  - {value}\r\n" for tag, value in lines if value or tag == "ER")


def _is_manuscript(kind: str) -> bool:
    lowered = kind.casefold()
    return any(word in lowered for word in ("manuscript", "bản thảo", "chép tay", "thủ bản"))


# -- BibTeX --------------------------------------------------------------------------------

_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}


def bibtex_text(text: str) -> str:
    """A field's value for biblatex with UTF-8 input: Unicode as it is, specials escaped."""
    return "".join(_BIBTEX_SPECIAL.get(c, c) for c in one_line(text))


def bibtex_key(citation: Citation) -> str:
    """Ascii letters of the first creator's last word, the year, and the item id."""
    name = citation.creators[0].split()[-1] if citation.creators else "tangthu"
    ascii_name = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    letters = re.sub(r"[^A-Za-z]", "", ascii_name.encode("ascii", "ignore").decode()).lower()
    year = str(citation.year) if citation.year is not None else "nd"
    return f"{letters or 'tangthu'}{year}{re.sub(r'[^A-Za-z0-9]', '', citation.item_id)}"


def bibtex(citation: Citation) -> str:
    """A biblatex entry (@book or @unpublished for a manuscript), UTF-8."""
    kind = "unpublished" if _is_manuscript(citation.kind) else "book"
    fields: list[tuple[str, str]] = [("title", citation.title)]
    if citation.other_titles:
        fields.append(("titleaddon", "; ".join(t for _, t in citation.other_titles)))
    if citation.creators:
        # Braced whole: Vietnamese names are family name first, never "Last, First".
        fields.append(("author", " and ".join(f"{{{bibtex_text(c)}}}" for c in citation.creators)))
    if citation.issued:
        fields.append(("date", citation.issued))
    if citation.year is not None:
        fields.append(("year", str(citation.year)))
    fields += [
        ("publisher", citation.publisher),
        ("location", citation.place),
        ("number", citation.identifier),
        ("language", ", ".join(citation.languages)),
        ("keywords", ", ".join(citation.subjects)),
        ("url", citation.url),
        ("urldate", citation.accessed.isoformat()),
    ]
    body = []
    for name, value in fields:
        if not value:
            continue
        text = value if name == "author" else bibtex_text(value)
        body.append(f"  {name} = {{{text}}}")
    return f"@{kind}{{{bibtex_key(citation)},\n" + ",\n".join(body) + "\n}\n"


# -- CSL-JSON ------------------------------------------------------------------------------


def csl_json(citation: Citation) -> list[dict[str, Any]]:
    """CSL-JSON, as Zotero, Mendeley and citeproc read it: a list of one item."""
    entry: dict[str, Any] = {
        "id": citation.item_id,
        "type": "manuscript" if _is_manuscript(citation.kind) else "book",
        "title": citation.title,
        "publisher": citation.publisher,
        "URL": citation.url,
        "accessed": _date_parts(citation.accessed),
    }
    if citation.other_titles:
        entry["original-title"] = citation.other_titles[0][1]
    if citation.creators:
        # A name as catalogued, never split into family and given by a Western rule.
        entry["author"] = [{"literal": creator} for creator in citation.creators]
    if citation.year is not None:
        entry["issued"] = {"date-parts": [[citation.year]], "literal": citation.issued}
    elif citation.issued:
        entry["issued"] = {"literal": citation.issued}
    for key, value in (
        ("publisher-place", citation.place),
        ("call-number", citation.identifier),
        ("language", citation.languages[0] if citation.languages else ""),
        ("keyword", ", ".join(citation.subjects)),
    ):
        if value:
            entry[key] = value
    return [entry]


def _date_parts(day: date) -> dict[str, Any]:
    return {"date-parts": [[day.year, day.month, day.day]]}


# -- Highwire Press tags -------------------------------------------------------------------


def highwire(citation: Citation) -> list[tuple[str, str]]:
    """(name, content) of the ``<meta name="citation_*">`` tags Zotero reads."""
    tags = [("citation_title", citation.title)]
    tags += [("citation_author", creator) for creator in citation.creators]
    if citation.year is not None:
        tags.append(("citation_publication_date", str(citation.year)))
    elif citation.issued:
        tags.append(("citation_date", citation.issued))
    tags += [
        ("citation_publisher", citation.publisher),
        ("citation_public_url", citation.url),
        ("citation_abstract_html_url", citation.url),
    ]
    tags += [("citation_language", language) for language in citation.languages]
    tags += [("citation_keywords", subject) for subject in citation.subjects]
    return [(name, value) for name, value in tags if value]
