"""Partners' catalogues as MARC 21 files: binary (.mrc) or MARCXML.

Unreadable records are skipped and reported; a file that cannot be read at all, or
that is mostly unreadable (so probably not MARC), imports nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pymarc

from ...models import Collection
from ...storage import Storage
from ..errors import Refused, TooLarge
from ..marc import MarcRecordError, marc_draft
from ..publish import PublishSettings
from ..untrusted_xml import XmlRefused, check_xml_file
from .records import (
    MAX_RECORDS,
    ImportResult,
    Progress,
    RecordDraft,
    check_file_size,
    save_drafts,
)

MAX_BAD_MARC = 1000  # unreadable records before a file is taken for something else


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
    check_xml_file(path, MAX_RECORDS)
    try:
        records = pymarc.parse_xml_to_array(str(path), normalize_form="NFC")
    except Exception as exc:  # SAX errors and pymarc's own on bad leaders or fields
        raise Refused(f"{path.name}: not MARCXML ({exc})") from None
    yield from records


def _is_xml(path: Path) -> bool:
    with path.open("rb") as stream:
        head = stream.read(512).lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"<") or head.startswith((b"\xff\xfe", b"\xfe\xff"))


def read_marc_records(
    path: Path, progress: Progress | None = None
) -> tuple[list[RecordDraft], list[str]]:
    """Records from a .mrc (MARC 21) or .xml (MARCXML) file, and what could not be read."""
    check_file_size(path)
    drafts: list[RecordDraft] = []
    problems: list[str] = []
    try:
        with path.open("rb") as stream:
            xml = _is_xml(path)
            source = _xml_records(path) if xml else _binary_records(stream)
            for number, record in enumerate(source, start=1):
                if number > MAX_RECORDS:
                    raise TooLarge(f"{path.name}: more than {MAX_RECORDS} records")
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
                        raise Refused(
                            f"{path.name}: {len(problems)} unreadable records; is it MARC 21?",
                            problems[:20],
                        ) from None
    except XmlRefused as exc:
        raise Refused(f"{path.name}: {exc}; nothing was imported", code=exc.code) from None
    except OSError as exc:
        raise Refused(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if not drafts:
        raise Refused(f"{path.name}: no readable MARC records; nothing was imported", problems[:20])
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
    created, updated, published, ids = save_drafts(
        drafts, collection, institution, publish, storage, settings, progress
    )
    return ImportResult(created, updated, len(problems), published, tuple(problems), tuple(ids))
