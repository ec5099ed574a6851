"""Partners' catalogues as our own open-data CSV (see linked_data.CSV_COLUMNS).

A CSV is all or nothing: one bad row refuses the file, and every bad row is named.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ...models import Collection
from ...storage import Storage
from ..cleaning import MAX_SUMMARY, MAX_URL, clean_text, http_url, year_of
from ..errors import Refused, TooLarge
from ..linked_data import from_spreadsheet
from ..publish import PublishSettings
from .records import (
    MAX_RECORDS,
    ImportResult,
    Progress,
    RecordDraft,
    add_value,
    check_file_size,
    save_drafts,
)

_TAGGED = re.compile(r"^\[([A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*)\]\s*(.+)$", re.S)
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
    row = {
        key: from_spreadsheet(cell) if isinstance(cell, str) else cell for key, cell in row.items()
    }
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
    """Every row as a record, or Refused listing every bad row."""
    check_file_size(path)
    drafts: list[RecordDraft] = []
    problems: list[str] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            columns = set(reader.fieldnames or ())
            if not columns & {"title_vi", "title_en"}:
                raise Refused(
                    f"{path.name}: not an open-data CSV: the header needs title_vi or title_en"
                    " (columns: " + ", ".join(("id", "url", "manifest", "title_vi", "...")) + ")"
                )
            for number, row in enumerate(reader, start=1):
                if number > MAX_RECORDS:
                    raise TooLarge(f"{path.name}: more than {MAX_RECORDS} rows")
                try:
                    drafts.append(csv_draft(row))
                except ValueError as exc:
                    problems.append(f"row {number} (line {reader.line_num}): {exc}")
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Refused(f"{path.name}: not a UTF-8 CSV file ({exc})") from None
    except OSError as exc:
        raise Refused(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if problems:
        raise Refused(f"{path.name}: {len(problems)} bad rows; nothing was imported", problems)
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
    created, updated, published, ids = save_drafts(
        drafts, collection, institution, publish, storage, settings, progress
    )
    return ImportResult(created, updated, 0, published, (), tuple(ids))
