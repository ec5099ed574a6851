"""Partners' catalogues as our own open-data CSV (see linked_data.CSV_COLUMNS).

A CSV is all or nothing: one bad row refuses the file, and every bad row is named. A bad
row's reason is an English message with named values (``RowProblem``): the command line
prints it as it is, and the web shows it in the reader's language (flask_babel).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
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

STAGING = "imports"  # under the instance folder: CSVs sent through the web, until imported
_STAGED = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TAGGED = re.compile(r"^\[([A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*)\]\s*(.+)$", re.S)
MULTI_COLUMNS = ("creator", "date", "language", "type", "subject", "identifier", "publisher")


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "translated where shown"
    """Marks a message for the catalogue; it is translated where it is shown."""
    return message


class RowError(ValueError):
    """Why a row cannot be a record: an English message with %(name)s values."""

    def __init__(self, message: str, **values: str | int) -> None:
        super().__init__(message % values if values else message)
        self.message, self.values = message, values


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad row: where it is, and why, as a message and its values."""

    row: int
    line: int
    message: str
    values: tuple[tuple[str, str | int], ...] = ()

    def reason(self, translate: Callable[..., str] | None = None) -> str:
        """Why, in English; or through ``translate`` (gettext) in the reader's language."""
        if translate is not None:
            return translate(self.message, **dict(self.values))
        return self.message % dict(self.values) if self.values else self.message

    def __str__(self) -> str:
        return f"row {self.row} (line {self.line}): {self.reason()}"


class BadRows(Refused):
    """A file refused for its bad rows; ``reasons`` in English, ``rows`` to translate."""

    def __init__(self, name: str, rows: list[RowProblem]) -> None:
        super().__init__(
            f"{name}: {len(rows)} bad rows; nothing was imported", [str(r) for r in rows]
        )
        self.name, self.rows = name, tuple(rows)


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
        raise RowError(N_("%(column)s is not a year: “%(text)s”"), column=column, text=text[:20])
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
        raise RowError(N_("no title (title_vi and title_en are empty)"))
    dc: dict[str, list[dict[str, str]]] = {}
    for column in MULTI_COLUMNS:
        for value, lang in _split_values(clean_text(row.get(column), MAX_SUMMARY)):
            add_value(dc, column, value, lang)
    start, end = _csv_year(row, "year_start"), _csv_year(row, "year_end")
    if start is not None and end is not None and end < start:
        raise RowError(N_("year_end is before year_start"))
    if start is None and end is None:  # the date as found stays; its year is searchable
        start = next((y for y in (year_of(v["value"]) for v in dc.get("date", [])) if y), None)
    links = {}
    for column in ("url", "manifest"):
        text = clean_text(row.get(column), MAX_URL + 1)
        if text and not http_url(text):
            raise RowError(
                N_("%(column)s is not an http(s) address of at most %(limit)d characters"),
                column=column,
                limit=MAX_URL,
            )
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
    problems: list[RowProblem] = []
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
                except RowError as exc:
                    values = tuple(exc.values.items())
                    problems.append(RowProblem(number, reader.line_num, exc.message, values))
                except ValueError as exc:  # a cleaner's own refusal: its English only
                    problems.append(RowProblem(number, reader.line_num, str(exc)))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Refused(f"{path.name}: not a UTF-8 CSV file ({exc})") from None
    except OSError as exc:
        raise Refused(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if problems:
        raise BadRows(path.name, problems)
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
    within: Callable[[], None] | None = None,
) -> ImportResult:
    """Import an open-data CSV: all rows or, if any row is bad, none. ``within`` runs in
    the import's own transaction, before it is committed: what it writes is committed
    with the rows, or rolled back with them."""
    drafts = read_csv_records(Path(path))
    if progress:
        progress("read", len(drafts))
    if within is not None:
        within()
    created, updated, published, ids = save_drafts(
        drafts, collection, institution, publish, storage, settings, progress
    )
    return ImportResult(created, updated, 0, published, (), tuple(ids))


def staged_folder(instance: Path, token: str) -> Path | None:
    """The folder of a CSV sent through the web (admin.imports), by its unguessable
    token; None for anything that is not a token."""
    return instance / STAGING / token if _STAGED.fullmatch(token) else None
