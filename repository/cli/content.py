"""Commands that publish content and look after it: publish, access, withdraw, the
sample, text recognition, the search index, fixity and the open-data export."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from tqdm import tqdm

from .. import get_storage
from ..extensions import db, ensure_database
from ..models import Collection, Item
from ..search import SearchDocument
from ..services.ingest import ItemDraft, ingest_item
from ..services.ocr import queue_pages
from ..settings import current_settings
from .worker import queued


def ensure_collection(slug: str, title: str | None = None) -> Collection:
    found = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
    if found is None:
        found = Collection(slug=slug, title={"vi": title or slug})
        db.session.add(found)
        db.session.commit()
    return found


def publish_one(item: Item) -> None:
    """Publish an item, audit it, and say where its manifest is."""
    from ..services.publish import publish_item
    from ..web import publish_settings

    settings = publish_settings()
    result = publish_item(item, get_storage(), settings)
    from ..services.audit import record

    record("publish", "cli", target=item.id, detail=item.access)
    click.echo(f"published {result.item_id}: {settings.urls.manifest(result.item_id)}")


@click.command("publish")
@click.argument("item_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Republish every published item.")
@click.option("--queue", "on_queue", is_flag=True, help="Put the work on the job queue.")
@click.option("--wait", is_flag=True, help="With --queue: follow the job's progress to its end.")
@with_appcontext
def publish(item_ids: tuple[str, ...], everything: bool, on_queue: bool, wait: bool) -> None:
    """Publish items, or rebuild every published manifest with --all."""
    if on_queue:
        if not everything or item_ids:
            raise click.ClickException("--queue goes with --all")
        queued("publish_all", wait=wait)
        return
    if everything:
        query = db.select(Item.id).filter_by(status="published")
        item_ids = tuple(db.session.execute(query).scalars())
    if not item_ids:
        raise click.ClickException("name the items to publish, or use --all")
    for item_id in item_ids:
        item = db.session.get(Item, item_id)
        if item is None:
            raise click.ClickException(f"no item has the id {item_id!r}")
        publish_one(item)
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


@click.command("load-sample")
@with_appcontext
def load_sample() -> None:
    """Draw and ingest the sample collection, once."""
    from ..sample import BOOKS, write_book
    from ..services.page_files import pages_in_folder
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
            publish_one(result.item)
    _read_queued_pages()
    from ..services.programme.demo import load_demo

    load_demo()  # holdings for the programme's dashboard and some recorded usage, once
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
def access(item_id: str, level: str, embargo: datetime | None) -> None:
    """Set an item's access level (and embargo); a published item is republished."""
    from ..services.cataloguing import Actor, change_access
    from ..web import publish_settings

    item = db.session.get(Item, item_id)
    if item is None:
        raise click.ClickException(f"no item has the id {item_id!r}")
    until = embargo.date() if embargo else None
    change_access(item, level, until, Actor("cli"), get_storage(), publish_settings())
    click.echo(f"{item.id}: {level}" + (f", embargoed until {until}" if until else ""))


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
@click.option("--queue", "on_queue", is_flag=True, help="Put the work on the job queue.")
@click.option("--wait", is_flag=True, help="With --queue: follow the job's progress to its end.")
@with_appcontext
def reindex(on_queue: bool, wait: bool) -> None:
    """Rebuild the search index from the database."""
    from ..services.publish import published_ids, search_batches
    from ..web import get_search

    ensure_database()
    if on_queue:
        queued("reindex", wait=wait)
        return
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
@click.option("--queue", "on_queue", is_flag=True, help="Put the work on the job queue.")
@click.option("--wait", is_flag=True, help="With --queue: follow the job's progress to its end.")
@with_appcontext
def ocr(
    item_ids: tuple[str, ...],
    slug: str | None,
    languages: str | None,
    force: bool,
    on_queue: bool,
    wait: bool,
) -> None:
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
    if on_queue:
        queued("ocr", wait=wait)
        return
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
    licence = current_settings().open_data_license
    click.echo(f"wrote {dest / 'items.jsonld'} and {dest / 'items.csv'} (licence {licence})")


COMMANDS = (export_opendata, ocr, publish, access, withdraw, reindex, fixity, load_sample)
