"""Commands for the union catalogue: import partners' files, harvest their OAI-PMH
endpoints, and register single remote IIIF manifests."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click
import requests
from flask.cli import with_appcontext
from tqdm import tqdm

from .. import get_storage
from ..extensions import db, ensure_database
from ..models import Collection, HarvestSource
from ..services.cleaning import http_url
from ..services.errors import ServiceError
from ..services.harvest import (
    HarvestLimits,
    HarvestResult,
    default_slug,
    described,
    enabled_sources,
    harvest,
    set_source_enabled,
)
from ..services.publish import PublishSettings
from ..services.union.marc_import import import_marc
from ..services.union.opendata_csv import import_csv
from ..services.union.records import ImportResult
from ..services.union.remote_manifest import register_manifest
from ..settings import current_settings
from ..storage import Storage
from .content import ensure_collection

MARC_SUFFIXES = (".mrc", ".marc", ".xml")


def _collection(slug: str) -> Collection:
    """The collection, or a new one that is only saved if the import succeeds."""
    found: Collection | None = db.session.execute(
        db.select(Collection).filter_by(slug=slug)
    ).scalar()
    if found is not None:
        return found
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,79}", slug):
        raise click.ClickException(
            f"a collection's short name is lower-case letters, digits and '-': {slug!r}"
        )
    return Collection(slug=slug, title={"vi": slug})


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--collection", "slug", required=True, help="The collection's short name.")
@click.option("--institution", default="", help="The institution that holds the records.")
@click.option("--publish", is_flag=True, help="Publish the records so they are found.")
@with_appcontext
def import_records(file: Path, slug: str, institution: str, publish: bool) -> None:
    """Import catalogue records (no images): an open-data CSV, MARC 21 (.mrc) or MARCXML.

    A CSV is all or nothing. In MARC files, unreadable records are skipped and reported
    (exit code 1); a file that cannot be read at all imports nothing.
    """
    ensure_database()
    suffix = file.suffix.lower()
    if suffix != ".csv" and suffix not in MARC_SUFFIXES:
        raise click.ClickException(f"{file.name}: import takes .csv, .mrc or .xml files")
    collection = _collection(slug)
    bars: dict[str, tqdm] = {}

    def progress(phase: str, count: int) -> None:
        if phase not in bars:
            for bar in bars.values():
                bar.close()
            label = "reading" if phase == "read" else "publishing"
            bars[phase] = tqdm(desc=label, unit="record", file=sys.stderr, disable=None)
        bars[phase].update(count)

    importer = import_csv if suffix == ".csv" else import_marc
    try:  # a refusal is printed, with every reason, by the command group
        storage, settings = _publisher(publish)
        result: ImportResult = importer(
            file,
            collection,
            institution,
            publish,
            storage=storage,
            settings=settings,
            progress=progress,
        )
    finally:
        for bar in bars.values():
            bar.close()
    for problem in result.problems[:50]:
        click.echo(f"skipped {problem}", err=True)
    click.echo(
        f"imported {result.created + result.updated} records into {slug}: {result.created}"
        f" new, {result.updated} updated, {result.published} published, {result.skipped} skipped"
    )
    if result.skipped:
        sys.exit(1)


def _publisher(publish: bool) -> tuple[Storage | None, PublishSettings | None]:
    """The storage and settings publishing needs, when the records are to be published."""
    if not publish:
        return None, None
    from ..web import publish_settings

    return get_storage(), publish_settings()


def _source(url: str, institution: str, slug: str | None, set_spec: str | None) -> HarvestSource:
    """The source for this endpoint, made on first use; options given change it."""
    source = db.session.execute(db.select(HarvestSource).filter_by(url=url)).scalar()
    if source is None:
        collection = ensure_collection(
            slug or default_slug(url), institution or urlsplit(url).hostname
        )
        source = HarvestSource(url=url, institution=institution, collection_id=collection.id)
        db.session.add(source)
    else:
        if institution:
            source.institution = institution
        if slug:
            source.collection_id = ensure_collection(slug).id
    if set_spec is not None:
        source.set_spec = set_spec
    db.session.commit()
    return source


def _limits() -> HarvestLimits:
    """What one partner may cost, from the settings (checked when the app was made)."""
    settings = current_settings()
    return HarvestLimits(
        connect_timeout=settings.harvest_connect_timeout,
        read_timeout=settings.harvest_read_timeout,
        deadline=settings.harvest_deadline,
        max_bytes=settings.harvest_max_bytes,
        max_pages=settings.harvest_max_pages,
        allow_networks=settings.harvest_allow_networks,
    )


def _run(source: HarvestSource, full: bool, limits: HarvestLimits) -> HarvestResult:
    from ..web import publish_settings

    def progress(page: int, so_far: HarvestResult) -> None:
        click.echo(
            f"page {page}: {so_far.created} created, {so_far.updated} updated,"
            f" {so_far.deleted} deleted, {so_far.skipped} skipped",
            err=True,
        )

    with requests.Session() as session:
        return harvest(
            source,
            get_storage(),
            publish_settings(),
            session=session,
            progress=progress,
            full=full,
            limits=limits,
        )


@click.command("harvest")
@click.argument("url", required=False)
@click.option("--institution", default="", help="Who holds the records (default: its name).")
@click.option("--collection", "slug", help="Where records go (default: harvest-<host>).")
@click.option("--set", "set_spec", help="Harvest only this OAI set.")
@click.option("--full", is_flag=True, help="Everything again, not only what changed.")
@click.option("--all", "everything", is_flag=True, help="Harvest every enabled source.")
@click.option("--queue", "on_queue", is_flag=True, help="Put the work on the job queue.")
@click.option("--wait", is_flag=True, help="With --queue: follow the job's progress to its end.")
@click.option(
    "--disable",
    "state",
    flag_value="disable",
    help="Leave the source at URL out of every harvest (nothing is harvested now).",
)
@click.option(
    "--enable",
    "state",
    flag_value="enable",
    help="Take the source at URL into harvests again (nothing is harvested now).",
)
@with_appcontext
def harvest_command(
    url: str | None,
    institution: str,
    slug: str | None,
    set_spec: str | None,
    full: bool,
    everything: bool,
    on_queue: bool,
    wait: bool,
    state: str | None,
) -> None:
    """Harvest oai_dc records from an OAI-PMH endpoint into the union catalogue.

    Runs after the first fetch only what changed since the last complete run.
    """
    ensure_database()
    if everything == bool(url):
        raise click.ClickException("name one OAI-PMH base URL, or use --all")
    if state is not None:
        _set_state(url, state)
        return
    if on_queue:
        _queue(url, full, wait)
        return
    limits = _limits()
    if url:
        if not http_url(url):
            raise click.ClickException(f"not an http(s) address: {url!r}")
        sources = [_source(url, institution, slug, set_spec)]
    else:
        sources = enabled_sources()
        if not sources:
            click.echo("no enabled sources: harvest a URL first, or enable one")
    failed = []
    for source in sources:
        click.echo(f"harvesting {source.url}", err=True)
        try:
            result = _run(source, full, limits)
        except ServiceError as exc:
            failed.append(f"{source.url}: {described(exc)}")
            click.echo(f"Error: {source.url}: {described(exc)}", err=True)
            continue
        click.echo(
            f"{source.url}: {result.created} created, {result.updated} updated,"
            f" {result.deleted} deleted, {result.skipped} skipped ({result.pages} pages)"
        )
        for problem in result.problems:
            click.echo(f"  skipped {problem}", err=True)
    if failed:
        if len(sources) == 1:
            raise click.ClickException(f"harvest failed: {failed[0]}")
        sys.exit(1)


def _known_source(url: str | None) -> HarvestSource:
    source: HarvestSource | None = db.session.execute(
        db.select(HarvestSource).filter_by(url=url)
    ).scalar()
    if source is None:
        raise click.ClickException(f"no harvest source has the address {url!r}")
    return source


def _set_state(url: str | None, state: str) -> None:
    """--enable or --disable: the source at URL, as the admin's buttons change it."""
    if not url:
        raise click.ClickException(f"--{state} names the source's URL, not --all")
    source = _known_source(url)
    changed = set_source_enabled(source, state == "enable", "cli")
    word = "enabled" if state == "enable" else "disabled"
    click.echo(f"{word} {url}" if changed else f"{url} was already {word}")


def _queue(url: str | None, full: bool, wait: bool) -> None:
    """The harvest job for every enabled source, or for the known source at URL."""
    from .worker import queued

    params: dict[str, object] = {"full": full}
    if url:
        params["source_id"] = _known_source(url).id
    queued("harvest", params, wait=wait)


@click.command("register-manifest")
@click.argument("url")
@click.option("--collection", "slug", required=True, help="The collection's short name.")
@click.option("--institution", default="", help="Who holds it (default: its provider).")
@click.option("--draft", is_flag=True, help="Keep it unpublished.")
@with_appcontext
def register_manifest_command(url: str, slug: str, institution: str, draft: bool) -> None:
    """Describe a remote IIIF manifest (3.0 or 2.1) here; its pages stay at its source."""
    ensure_database()
    allow_networks = current_settings().harvest_allow_networks
    collection = _collection(slug)
    storage, settings = _publisher(not draft)
    item = register_manifest(
        url,
        collection,
        institution,
        publish=not draft,
        storage=storage,
        settings=settings,
        allow_networks=allow_networks,
    )
    click.echo(f"registered item {item.id} ({item.status}) for {url}")


COMMANDS = (import_records, harvest_command, register_manifest_command)
