"""Commands that bring content in and publish it: ingest, publish, fixity, sample."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from tqdm import tqdm

from .. import get_storage
from ..extensions import db, ensure_database
from ..models import Collection, Item
from ..search import SearchDocument
from ..services.batch import BatchError, BatchItem, files_of, read_csv, skipped_of
from ..services.ingest import IngestError, ItemDraft, ingest_item, recover_interrupted
from ..services.ocr import queue_pages


def ensure_collection(slug: str, title: str | None = None) -> Collection:
    found = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
    if found is None:
        found = Collection(slug=slug, title={"vi": title or slug})
        db.session.add(found)
        db.session.commit()
    return found


class PageBar:
    """A tqdm progress bar over pages: pages/s and ETA, on stderr."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.bar: tqdm | None = None  # type: ignore[type-arg]

    def start(self, pages: int) -> None:
        self.bar = tqdm(
            total=pages,
            desc=self.name[:40],
            unit="page",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=None,
        )

    def advance(self, label: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(label[:30], refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _publish(item: Item) -> None:
    from ..services.publish import publish_item
    from ..web import publish_settings

    settings = publish_settings()
    result = publish_item(item, get_storage(), settings)
    from ..services.audit import record

    record("publish", "cli", target=item.id, detail=item.access)
    click.echo(f"published {result.item_id}: {settings.urls.manifest(result.item_id)}")


def _batch(
    sources: tuple[Path, ...],
    collection: str | None,
    title: str | None,
    title_en: str,
    direction: str,
) -> tuple[list[BatchItem], list[str]]:
    """What the command line names: CSV files expand to their rows."""
    items: list[BatchItem] = []
    problems: list[str] = []
    for source in sources:
        try:
            if source.suffix.lower() == ".csv" and source.is_file():
                rows, bad = read_csv(source, collection)
                items += rows
                problems += bad
                continue
            if not collection:
                raise BatchError("name its collection with --collection")
            name = title or source.stem or source.name
            draft = ItemDraft(
                collection,
                {"vi": name, "en": title_en},
                files_of(source),
                viewing_direction=direction,
            )
            items.append(BatchItem(str(source), collection, draft, skipped_of(source)))
        except BatchError as exc:
            problems.append(f"{source}: {exc}")
    return items, problems


@dataclass
class BatchReport:
    """What a batch did: every file refused or skipped is named, with why."""

    refused: list[str] = field(default_factory=list)  # one line per reason
    skipped: list[str] = field(default_factory=list)
    refused_items: int = 0
    ingested: int = 0
    already: int = 0

    def skip(self, batch_item: BatchItem) -> None:
        for line in batch_item.skipped:
            self.skipped.append(f"{batch_item.where}: {line}")
            click.echo(f"Skipped: {batch_item.where}: {line}", err=True)

    def refuse(self, batch_item: BatchItem, reasons: list[str]) -> None:
        self.refused += [f"{batch_item.where}: {reason}" for reason in reasons]
        self.refused_items += 1
        click.echo(
            f"Error: {batch_item.where}: nothing was ingested: " + "; ".join(reasons), err=True
        )

    def done(self, created: bool) -> None:
        if created:
            self.ingested += 1
        else:
            self.already += 1

    def summarise(self) -> None:
        """The whole batch at the end, so that no refusal scrolls away unseen."""
        click.echo(
            f"items ingested: {self.ingested}, already ingested: {self.already}, "
            f"refused: {self.refused_items}; files skipped: {len(self.skipped)}"
        )
        for heading, lines in (("Refused", self.refused), ("Skipped", self.skipped)):
            if lines:
                click.echo(f"{heading}:", err=True)
                for line in lines:
                    click.echo(f"  {line}", err=True)


@click.command("ingest")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--collection", "slug", help="The collection's short name (made if missing).")
@click.option("--title", help="The item's title in Vietnamese (default: the folder's name).")
@click.option("--title-en", default="", help="The item's title in English.")
@click.option(
    "--direction",
    type=click.Choice(["left-to-right", "right-to-left", "top-to-bottom"]),
    default="left-to-right",
    show_default=True,
    help="Reading direction.",
)
@click.option("--publish", is_flag=True, help="Publish each item once it is in.")
@with_appcontext
def ingest(
    sources: tuple[Path, ...],
    slug: str | None,
    title: str | None,
    title_en: str,
    direction: str,
    publish: bool,
) -> None:
    """Ingest folders, single files (PDF, multi-page TIFF) or CSV lists of items.

    Each folder or file becomes one item, its pages in natural order (2 before 10).
    Each item is all or nothing; a refused item is reported and the batch goes on.
    Files already ingested (same checksums, same collection) are skipped. Every file
    refused or skipped is named with the reason, again at the end of a batch, and the
    command exits with status 1 if anything was refused.
    """
    from ..web import ingest_settings

    ensure_database()
    items, problems = _batch(sources, slug, title, title_en, direction)
    report = BatchReport(refused=list(problems), refused_items=len(problems))
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    queued = 0
    for batch_item in items:
        report.skip(batch_item)
        ensure_collection(batch_item.collection_slug)
        bar = PageBar(batch_item.draft.title["vi"])
        try:
            result = ingest_item(batch_item.draft, get_storage(), ingest_settings(), bar)
        except IngestError as exc:
            report.refuse(batch_item, exc.reasons)
            continue
        finally:
            bar.close()
        item = result.item
        report.done(result.created)
        verb = "ingested" if result.created else "already ingested, skipped:"
        click.echo(f"{verb} item {item.id} ({len(item.images)} pages) from {batch_item.where}")
        if result.created and queue_pages(item):
            db.session.commit()
            queued += len(item.images)
        if publish and item.status != "published":
            _publish(item)
    if queued:
        click.echo(f"{queued} pages wait for text recognition: run `tangthu ocr` to read them")
    if len(items) + len(problems) > 1:
        report.summarise()
    if report.refused:
        sys.exit(1)


@click.command("publish")
@click.argument("item_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Republish every published item.")
@with_appcontext
def publish(item_ids: tuple[str, ...], everything: bool) -> None:
    """Publish items, or rebuild every published manifest with --all."""
    if everything:
        query = db.select(Item.id).filter_by(status="published")
        item_ids = tuple(db.session.execute(query).scalars())
    if not item_ids:
        raise click.ClickException("name the items to publish, or use --all")
    for item_id in item_ids:
        item = db.session.get(Item, item_id)
        if item is None:
            raise click.ClickException(f"no item has the id {item_id!r}")
        _publish(item)
    if everything:  # every stored manifest now has this site's base URLs
        from ..services.publish import mark_base
        from ..web import public_urls

        mark_base(get_storage(), public_urls())


@click.command("fixity")
@with_appcontext
def fixity() -> None:
    """Re-hash every master and derivative; exit 1 if any is missing or changed."""
    from ..services.fixity import check_fixity

    with tqdm(desc="checking", unit="file", file=sys.stderr, disable=None) as bar:
        problems = check_fixity(get_storage(), progress=lambda key: bar.update(1))
    for problem in problems:
        click.echo(f"{problem.problem}: {problem.key}")
    if problems:
        click.echo(f"{len(problems)} problems found", err=True)
        sys.exit(1)
    click.echo("all checksums match")


@click.command("cleanup")
@with_appcontext
def cleanup() -> None:
    """Remove what interrupted ingests left behind (also done before every ingest)."""
    from ..web import ingest_settings

    ensure_database()
    removed = recover_interrupted(get_storage(), ingest_settings().staging_dir)
    click.echo(f"removed {removed} objects left by interrupted ingests")


@click.command("load-sample")
@with_appcontext
def load_sample() -> None:
    """Draw and ingest the sample collection, once."""
    from ..sample import BOOKS, write_book
    from ..services.ingest import pages_in_folder
    from ..web import ingest_settings

    ensure_database()
    collection = ensure_collection("mau")
    collection.title = {"vi": "Bộ sưu tập mẫu", "en": "Sample collection"}
    db.session.commit()
    root = Path(current_app.instance_path) / "sample"
    for book in BOOKS:
        folder = write_book(book, root)
        draft = ItemDraft(
            "mau",
            book.title,
            pages_in_folder(folder),
            book.summary,
            book.viewing_direction,
            access=book.access,
        )
        result = ingest_item(draft, get_storage(), ingest_settings())
        if book.ocr_languages and result.created:
            result.item.ocr_languages = book.ocr_languages
            queue_pages(result.item)
            db.session.commit()
        if result.item.status != "published":
            _publish(result.item)
    _read_queued_pages()
    from ..web import public_urls

    click.echo(
        f"the sample's manifests are written for {public_urls().base}; `tangthu serve` on"
        " another address rewrites them for it"
    )


def _read_queued_pages() -> None:
    """Read the sample's printed pages now, so the demo can search inside them."""
    from ..services.ocr import drain, installed_languages
    from ..tasks import ocr_settings, refresh_item

    if "vie" not in installed_languages():
        click.echo("Tesseract with Vietnamese is not installed: the sample has no OCR text")
        return
    read = drain(get_storage(), ocr_settings(current_app), refresh_item)
    if read:
        click.echo(f"read the text of {read} sample pages")


@click.command("access")
@click.argument("item_id")
@click.argument("level", type=click.Choice(["open", "degraded", "restricted", "onsite", "staff"]))
@click.option(
    "--embargo",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Hold the item at staff until this day (YYYY-MM-DD).",
)
@with_appcontext
def access(item_id: str, level: str, embargo: object) -> None:
    """Set an item's access level (and embargo); a published item is republished."""
    from ..services.audit import record

    item = db.session.get(Item, item_id)
    if item is None:
        raise click.ClickException(f"no item has the id {item_id!r}")
    before = f"{item.access} {item.embargo_until or ''}".strip()
    item.access = level
    item.embargo_until = embargo.date() if embargo else None  # type: ignore[attr-defined]
    db.session.commit()
    record(
        "access-changed",
        "cli",
        target=item.id,
        detail=f"{before} -> {level} {item.embargo_until or ''}".strip(),
    )
    if item.status == "published":
        _publish(item)
    click.echo(
        f"{item.id}: {level}"
        + (f", embargoed until {item.embargo_until}" if item.embargo_until else "")
    )


@click.command("withdraw")
@click.argument("item_id")
@with_appcontext
def withdraw(item_id: str) -> None:
    """Withdraw a published item: gone from every page, manifest and image answer."""
    from ..services.audit import record
    from ..services.publish import withdraw_item
    from ..web import publish_settings

    item = db.session.get(Item, item_id)
    if item is None:
        raise click.ClickException(f"no item has the id {item_id!r}")
    withdraw_item(item, get_storage(), publish_settings())
    record("withdraw", "cli", target=item.id)
    click.echo(f"withdrawn {item.id}")


@click.command("reindex")
@with_appcontext
def reindex() -> None:
    """Rebuild the search index from the database."""
    from ..services.publish import published_ids, search_batches
    from ..web import get_search

    ensure_database()
    ids = published_ids()

    def counted() -> Iterator[list[SearchDocument]]:
        for batch in search_batches(ids):
            yield batch
            bar.update(len(batch))
            db.session.expunge_all()  # a national library's catalogue does not fit in memory

    with tqdm(total=len(ids), desc="indexing", unit="item", file=sys.stderr, disable=None) as bar:
        count = get_search().rebuild(counted())
    click.echo(f"indexed {count} items")


@click.command("ocr")
@click.option("--item", "item_ids", multiple=True, help="Queue this item's pages (repeatable).")
@click.option("--collection", "slug", help="Queue the pages of every item in this collection.")
@click.option(
    "--languages",
    help="Tesseract languages for the items named (e.g. vie, vie+eng); saved on them.",
)
@click.option("--force", is_flag=True, help="Read pages again even if they have been read.")
@with_appcontext
def ocr(item_ids: tuple[str, ...], slug: str | None, languages: str | None, force: bool) -> None:
    """Recognise the text of queued pages (after queueing any named here), with progress."""
    from ..models import PageText
    from ..services.ocr import LANGUAGE, drain, installed_languages
    from ..tasks import ocr_settings, refresh_item

    ensure_database()
    if languages is not None:
        if not re.match(LANGUAGE, languages):
            raise click.ClickException(f"not a Tesseract language list: {languages!r}")
        missing = set(languages.split("+")) - set(installed_languages())
        if missing:
            raise click.ClickException(f"Tesseract has no {', '.join(sorted(missing))} here")
    chosen = [db.session.get(Item, item_id) for item_id in item_ids]
    if None in chosen:
        raise click.ClickException("no item has the id " + repr(item_ids[chosen.index(None)]))
    if slug:
        collection = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
        if collection is None:
            raise click.ClickException(f"no collection is called {slug!r}")
        chosen += collection.items
    for item in chosen:
        assert item is not None
        if languages is not None:
            item.ocr_languages = languages
        queue_pages(item, force=force)
    db.session.commit()
    waiting = db.session.execute(
        db.select(db.func.count()).select_from(PageText).filter_by(status="queued")
    ).scalar_one()
    failed: list[PageText] = []

    def done(page: PageText) -> None:
        bar.update()
        if page.status == "failed":
            failed.append(page)

    with tqdm(total=waiting, desc="reading", unit="page", file=sys.stderr, disable=None) as bar:
        read = drain(get_storage(), ocr_settings(current_app), refresh_item, done)
    for page in failed:
        click.echo(f"failed: page {page.image_id}: {page.message}", err=True)
    click.echo(f"read {read - len(failed)} pages; {len(failed)} failed")
    if failed:
        sys.exit(1)


@click.command("export-opendata")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def export_opendata(dest: Path) -> None:
    """Write the open-data export (items.jsonld, items.csv) of every public item to DEST;
    the same files are served at /opendata/items.jsonld and /opendata/items.csv."""
    from ..public.opendata import csv_chunks, jsonld_chunks

    ensure_database()
    dest.mkdir(parents=True, exist_ok=True)
    for name, chunks in (("items.jsonld", jsonld_chunks), ("items.csv", csv_chunks)):
        partial = dest / f".{name}.partial"
        with partial.open("w", encoding="utf-8", newline="") as out:
            for chunk in chunks():
                out.write(chunk)
        partial.replace(dest / name)  # whole files only, never half an export
    licence = current_app.config["OPEN_DATA_LICENSE"]
    click.echo(f"wrote {dest / 'items.jsonld'} and {dest / 'items.csv'} (licence {licence})")


COMMANDS = (
    export_opendata,
    ocr,
    ingest,
    publish,
    access,
    withdraw,
    reindex,
    fixity,
    cleanup,
    load_sample,
)
