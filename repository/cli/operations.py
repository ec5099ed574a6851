"""Operations commands: backup, restore and preservation bags."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import text
from tqdm import tqdm

from .. import get_storage
from ..extensions import db, ensure_database
from ..models import Item
from ..settings import current_settings


def _revision() -> str:
    """Every head, as the backup records them (migrations side by side are branches)."""
    heads = db.session.execute(text("SELECT version_num FROM alembic_version")).scalars()
    return ",".join(sorted(str(head) for head in heads))


@click.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
@with_appcontext
def backup_command(dest: Path) -> None:
    """Write a consistent snapshot (database rows, objects, SHA-256 list) to DEST, a new
    folder, as a BagIt bag. The apps may keep serving meanwhile."""
    from ..services.backup import backup

    ensure_database()
    bar = tqdm(desc="copying objects", unit="object", file=sys.stderr, disable=None)
    with bar:  # a refusal is one Error: line, from the command group
        result = backup(get_storage(), dest, lambda _key: bar.update())
    click.echo(f"backed up {result.rows} rows and {result.objects} objects to {result.path}")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@with_appcontext
def restore_command(source: Path) -> None:
    """Rebuild this (empty) instance from a backup: rows, objects, then the manifests,
    access sidecars and search index made from them."""
    from ..services.backup import restore
    from ..services.publish import mark_base, search_batches, write_manifests, write_policies
    from ..web import get_search, publish_settings

    ensure_database()
    rows, objects = restore(get_storage(), source, _revision())
    db.session.expire_all()
    published = db.session.execute(db.select(Item).filter_by(status="published")).scalars().all()
    settings = publish_settings()
    for item in tqdm(published, desc="republishing", unit="item", file=sys.stderr, disable=None):
        # Not publish_item: that would add change events; the restored ones are the history.
        if item.images:
            write_manifests(item, get_storage(), settings)
        write_policies(item, get_storage(), settings)
    mark_base(get_storage(), settings.urls)  # not the backed-up instance's base URLs
    withdrawn = db.session.execute(db.select(Item).filter_by(status="withdrawn")).scalars()
    for item in withdrawn:
        write_policies(item, get_storage(), settings)
    count = get_search().rebuild(search_batches([item.id for item in published]))
    click.echo(f"restored {rows} rows and {objects} objects; {count} items searchable")


@click.command("export-bag")
@click.argument("item_id")
@click.argument("dest", type=click.Path(path_type=Path))
@with_appcontext
def export_bag(item_id: str, dest: Path) -> None:
    """Write one item as a BagIt bag for preservation: masters, text, manifest, record."""
    from ..services.backup import export_item_bag
    from ..services.publish import render_manifests
    from ..web import publish_settings

    ensure_database()
    item = db.session.get(Item, item_id)
    if item is None:
        raise click.ClickException(f"no item has the id {item_id!r}")
    manifest, _v2 = render_manifests(item, publish_settings())
    names = current_settings().library_name
    library = names.get("vi") or next(iter(names.values()), "")
    export_item_bag(item, get_storage(), dest, library, manifest)
    click.echo(f"wrote the bag of {item.id} to {dest}")


COMMANDS = (backup_command, restore_command, export_bag)
