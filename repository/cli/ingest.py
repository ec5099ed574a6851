"""The `ingest` command: folders, files and CSV lists of items, each all or nothing."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask.cli import with_appcontext
from tqdm import tqdm

from .. import get_storage
from ..extensions import db, ensure_database
from ..services.batch import BatchItem, files_of, read_csv, skipped_of
from ..services.errors import Refused, ServiceError
from ..services.ingest import ItemDraft, ingest_item
from ..services.ocr import queue_pages
from ..services.pending import recover_interrupted
from .content import ensure_collection, publish_one


class PageBar:
    """A tqdm progress bar over pages: pages/s and ETA, on stderr."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.bar: tqdm | None = None

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
                raise Refused("name its collection with --collection")
            name = title or source.stem or source.name
            draft = ItemDraft(
                collection,
                {"vi": name, "en": title_en},
                files_of(source),
                viewing_direction=direction,
            )
            items.append(BatchItem(str(source), collection, draft, skipped_of(source)))
        except Refused as exc:
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
@click.option("--queue", "on_queue", is_flag=True, help="One job per item on the job queue.")
@with_appcontext
def ingest(
    sources: tuple[Path, ...],
    slug: str | None,
    title: str | None,
    title_en: str,
    direction: str,
    publish: bool,
    on_queue: bool,
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
    if on_queue:
        _queue_items(items, publish)
        if problems:
            sys.exit(1)
        return
    queued = 0
    for batch_item in items:
        report.skip(batch_item)
        ensure_collection(batch_item.collection_slug)
        bar = PageBar(batch_item.draft.title["vi"])
        try:
            result = ingest_item(batch_item.draft, get_storage(), ingest_settings(), bar)
        except ServiceError as exc:
            report.refuse(batch_item, list(exc.reasons))
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
            publish_one(item)
    if queued:
        click.echo(f"{queued} pages wait for text recognition: run `tangthu ocr` to read them")
    if len(items) + len(problems) > 1:
        report.summarise()
    if report.refused:
        sys.exit(1)


def _queue_items(items: list[BatchItem], publish: bool) -> None:
    """Each item a job for the workers, which read its files from the same paths."""
    from ..jobs import submit

    for batch_item in items:
        ensure_collection(batch_item.collection_slug)
        draft = batch_item.draft
        job = submit(
            "ingest",
            {
                "collection": draft.collection_slug,
                "title": draft.title,
                "direction": draft.viewing_direction,
                "pages": [[str(p.path.resolve()), p.name] for p in draft.pages],
                "publish": publish,
            },
        )
        click.echo(f"queued job {job.id}: {batch_item.where} ({len(draft.pages)} files)")


@click.command("cleanup")
@with_appcontext
def cleanup() -> None:
    """Remove what interrupted ingests left behind (also done before every ingest)."""
    from ..web import ingest_settings

    ensure_database()
    removed = recover_interrupted(get_storage(), ingest_settings().staging_dir)
    click.echo(f"removed {removed} objects left by interrupted ingests")


COMMANDS = (ingest, cleanup)
