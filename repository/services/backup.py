"""Backup and restore: a consistent snapshot of an instance, as a BagIt bag.

A backup is a folder holding a bag (RFC 8493):
- ``data/database/<table>.jsonl``: every table's rows, read in one transaction, so the
  rows agree with each other while the apps keep serving (a logical dump: it restores
  into SQLite or PostgreSQL alike);
- ``data/objects/<key>``: every stored object (masters, pyramids, OCR text, manifests);
- ``manifest-sha256.txt``: the SHA-256 of every file, written by the bagit library, so
  ``restore`` (or anyone with bagit) can prove nothing was lost or changed.

Objects that a row needs (masters, pyramids, ALTO) must be in the bag, or the backup
fails. Manifests and access sidecars are rebuilt on restore from the rows, and the
search index is rebuilt too: they are derived, so whatever happened to them between
the snapshot and the copy does not matter.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import bagit
from sqlalchemy import Table, inspect, text
from sqlalchemy.engine import Connection

from ..extensions import db
from ..models import Image, Item, PageText
from ..storage import Storage
from .errors import Conflict, Refused
from .fixity import copy_object
from .page_files import sha256_file

FORMAT = "tangthu-backup/1"
SKIPPED_TABLES = ("alembic_version",)


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    rows: int
    objects: int
    revision: str


def _tables() -> list[Table]:
    """The application's tables, parents before children (the search index is derived)."""
    return [t for t in db.metadata.sorted_tables if not t.name.startswith("search_")]


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "$datetime":
            return datetime.fromisoformat(raw)
        if tag == "$date":
            return date.fromisoformat(raw)
        if tag == "$bytes":
            return base64.b64decode(raw)
    return value


def _revision(connection: Connection) -> str:
    if not inspect(connection).has_table("alembic_version"):
        return ""
    # Every head: migrations written side by side are separate branches until merged.
    heads = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    return ",".join(sorted(str(head) for head in heads))


def _dump(connection: Connection, folder: Path) -> tuple[int, set[str]]:
    """Every table as JSON lines; returns the row count and the object keys rows need."""
    folder.mkdir(parents=True)
    rows = 0
    for table in _tables():
        with (folder / f"{table.name}.jsonl").open("w", encoding="utf-8") as out:
            for row in connection.execute(table.select().order_by(*table.primary_key.columns)):
                record = {key: _encode(value) for key, value in row._mapping.items()}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                rows += 1
    needed: set[str] = set()
    for master, pyramid in connection.execute(db.select(Image.master_key, Image.pyramid_key)):
        needed.update((master, pyramid))
    needed.update(key for (key,) in connection.execute(db.select(PageText.alto_key)) if key)
    return rows, needed


@contextmanager
def _bag_folder(dest: Path, refusal: str) -> Iterator[Path]:
    """A folder to fill beside ``dest``: it becomes ``dest`` whole, or vanishes on failure."""
    if dest.exists() and any(dest.iterdir()):
        raise Conflict(refusal)
    partial = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        if dest.exists():
            dest.rmdir()
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def backup(
    storage: Storage, dest: Path, progress: Callable[[str], None] | None = None
) -> BackupResult:
    """Write a consistent snapshot of the database and the objects into ``dest``."""
    with _bag_folder(dest, f"{dest} is not empty; a backup goes into a new folder") as partial:
        engine = db.engine
        if engine.dialect.name == "postgresql":  # one snapshot for every table
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with engine.connect() as connection:
            with connection.begin():  # SQLite: one read transaction sees one state
                revision = _revision(connection)
                rows, needed = _dump(connection, partial / "database")
        objects = 0
        for key in storage.keys():
            if key.startswith(".") or "/." in key:
                continue
            target = partial / "objects" / key
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                copy_object(storage, key, target)  # S3: streamed, not via the tile cache
            except KeyError:  # deleted since it was listed: only derived files are deleted
                continue
            objects += 1
            if progress is not None:
                progress(key)
        missing = sorted(k for k in needed if not (partial / "objects" / k).is_file())
        if missing:
            raise Refused(f"objects the database needs are missing: {', '.join(missing[:5])}")
        (partial / "tangthu.json").write_text(
            json.dumps({"format": FORMAT, "revision": revision, "rows": rows, "objects": objects})
        )
        bagit.make_bag(
            str(partial),
            {"Source-Organization": "Tàng Thư", "External-Description": "Tàng Thư backup"},
            checksums=["sha256"],
        )
    return BackupResult(dest, rows, objects, revision)


def checksums(folder: Path) -> dict[str, str]:
    """The bag's SHA-256 list: payload path -> digest."""
    found = {}
    for line in (folder / "manifest-sha256.txt").read_text(encoding="utf-8").splitlines():
        digest, _, path = line.partition(" ")
        found[path.strip()] = digest
    return found


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            yield {key: _decode(value) for key, value in json.loads(line).items()}


def restore(storage: Storage, source: Path, current_revision: str) -> tuple[int, int]:
    """Rebuild an empty instance from a backup; returns (rows, objects) restored.

    The bag is validated first (every checksum): a damaged backup restores nothing.
    """
    try:
        bag = bagit.Bag(str(source))
        bag.validate(processes=1)
    except bagit.BagError as exc:
        raise Refused(f"{source} is not a whole Tàng Thư backup: {exc}") from exc
    meta = json.loads((source / "data" / "tangthu.json").read_text())
    if meta.get("format") != FORMAT:
        raise Refused("this backup was made by another program or version")
    if meta.get("revision") != current_revision:
        raise Refused(
            f"this backup's database is at revision {meta.get('revision')!r}; this program is at "
            f"{current_revision!r}: restore it with the same version of Tàng Thư"
        )
    if db.session.execute(db.select(Item.id).limit(1)).first() is not None:
        raise Conflict("this instance already holds items; restore into an empty instance")
    data = source / "data"
    rows = 0
    later: list[tuple[Table, dict[str, Any]]] = []  # references that close a cycle of tables
    with db.engine.begin() as connection:
        for table in reversed(_tables()):  # empty instances may still hold defaults
            connection.execute(table.delete())
        for table in _tables():
            dump = data / "database" / f"{table.name}.jsonl"
            if not dump.exists():
                continue
            cyclic = [c.name for c in table.columns if any(fk.use_alter for fk in c.foreign_keys)]
            batch: list[dict[str, Any]] = []
            for row in _rows(dump):
                deferred = {name: row[name] for name in cyclic if row.get(name) is not None}
                if deferred:
                    identity = {c.name: row[c.name] for c in table.primary_key.columns}
                    later.append((table, {**identity, **deferred}))
                    row = {**row, **dict.fromkeys(deferred)}
                batch.append(row)
                if len(batch) == 500:
                    connection.execute(table.insert(), batch)
                    rows, batch = rows + len(batch), []
            if batch:
                connection.execute(table.insert(), batch)
                rows += len(batch)
        for table, values in later:
            keys = [c.name for c in table.primary_key.columns]
            where = [table.c[name] == values[name] for name in keys]
            changes = {k: v for k, v in values.items() if k not in keys}
            connection.execute(table.update().where(*where).values(**changes))
        if connection.dialect.name == "postgresql":  # identity sequences continue after the rows
            for table in _tables():
                for column in table.primary_key.columns:
                    if column.autoincrement is True or (
                        column.type.python_type is int and column.autoincrement == "auto"
                    ):
                        connection.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', "
                                f"'{column.name}'), coalesce(max({column.name}), 1)) "
                                f'FROM "{table.name}"'
                            )
                        )
    objects = 0
    root = data / "objects"
    for path in sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []:
        storage.put_file(path.relative_to(root).as_posix(), path)
        objects += 1
    return rows, objects


def export_item_bag(
    item: Item, storage: Storage, dest: Path, library: str, manifest: bytes
) -> Path:
    """One item as a BagIt bag for preservation: its masters (as ingested, checked against
    the SHA-256 recorded then), recognised text as ALTO, the IIIF manifest and the record."""
    with _bag_folder(dest, f"{dest} is not empty") as partial:
        masters = partial / "masters"
        masters.mkdir()
        copied: set[str] = set()
        for image in item.images:
            if image.page_text is not None and image.page_text.alto_key:
                text_dir = partial / "text"
                text_dir.mkdir(exist_ok=True)
                alto = storage.local_path(image.page_text.alto_key)
                shutil.copyfile(alto, text_dir / f"{image.position:04d}.alto.xml")
            if image.master_key in copied:  # pages of one PDF or TIFF share their master
                continue
            copied.add(image.master_key)
            name = f"{image.position:04d}-{Path(image.master_key).name}"
            shutil.copyfile(storage.local_path(image.master_key), masters / name)
            if image.master_page is None and sha256_file(masters / name) != image.sha256:
                raise Refused(f"the master of page {image.position} no longer matches its checksum")
        (partial / "manifest.json").write_bytes(manifest)
        record = {
            "id": item.id,
            "title": item.title,
            "summary": item.summary,
            "dc": item.dc,
            "year_start": item.year_start,
            "year_end": item.year_end,
            "collection": item.collection.slug if item.collection else None,
            "rights": item.rights,
            "pages": [
                {
                    "position": i.position,
                    "label": i.label,
                    "sha256": i.sha256,
                    "master": i.master_key,
                }
                for i in item.images
            ],
        }
        (partial / "record.json").write_text(json.dumps(record, ensure_ascii=False, indent=2))
        identifiers = [str(v.get("value", "")) for v in item.dc.get("identifier", [])]
        info = {
            "Source-Organization": library,
            "External-Identifier": item.id,
            "External-Description": item.title.get("vi") or next(iter(item.title.values()), ""),
        }
        if identifiers:
            info["Internal-Sender-Identifier"] = identifiers[0]
        bagit.make_bag(str(partial), info, checksums=["sha256"])
    return dest
