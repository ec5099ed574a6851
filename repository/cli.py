"""The `tangthu` command group: a Flask CLI over the repository app."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from .extensions import db
from .models import Collection, Item

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the database tables (safe to run again)."""
    db.create_all()
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("create-user")
@click.argument("username")
@click.option("--admin", "role", flag_value="admin", help="An administrator.")
@click.option("--curator", "role", flag_value="curator", help="A curator.")
@click.option("--reader", "role", flag_value="reader", default=True, help="A reader (default).")
@click.password_option(envvar="TANGTHU_NEW_USER_PASSWORD", help="Or set TANGTHU_NEW_USER_PASSWORD.")
@with_appcontext
def create_user(username: str, role: str, password: str) -> None:
    """Create a user account."""
    from .services.accounts import AccountError, NewUser
    from .services.accounts import create_user as create

    db.create_all()
    try:
        user = create(NewUser(username, password, role))
    except AccountError as exc:
        _fail(str(exc))
    else:
        click.echo(f"created {user.role} {user.username}")


def ensure_collection(slug: str, title: str | None) -> Collection:
    found = db.session.execute(db.select(Collection).filter_by(slug=slug)).scalar()
    if found is None:
        found = Collection(slug=slug, title={"vi": title or slug})
        db.session.add(found)
        db.session.commit()
    return found


@click.command("ingest")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--collection", "slug", required=True, help="The collection's short name.")
@click.option("--title", required=True, help="The item's title in Vietnamese.")
@click.option("--title-en", default="", help="The item's title in English.")
@click.option(
    "--direction",
    type=click.Choice(["left-to-right", "right-to-left", "top-to-bottom"]),
    default="left-to-right",
    show_default=True,
    help="Reading direction.",
)
@click.option("--publish", is_flag=True, help="Publish the item once it is in.")
@with_appcontext
def ingest(
    source: Path, slug: str, title: str, title_en: str, direction: str, publish: bool
) -> None:
    """Ingest a folder of page images as one item (pages in natural order)."""
    from .services.ingest import IngestError, ItemDraft, ingest_item, pages_in_folder
    from .web import ingest_settings

    if not source.exists():
        _fail(f"{source}: no such folder")
    if not source.is_dir():
        _fail(f"{source}: not a folder")
    try:
        pages = pages_in_folder(source)
    except OSError as exc:
        _fail(f"{source}: cannot be read ({exc.strerror or exc})")
    if not pages:
        _fail(f"{source}: no page images in this folder")
    db.create_all()
    ensure_collection(slug, None)
    draft = ItemDraft(slug, {"vi": title, "en": title_en}, pages, viewing_direction=direction)
    with click.progressbar(
        length=len(pages), label="ingesting", show_pos=True, show_eta=True, file=sys.stderr
    ) as bar:
        try:
            item = ingest_item(
                draft, _storage(), ingest_settings(), progress=lambda page: bar.update(1)
            )
        except IngestError as exc:
            _fail("nothing was ingested: " + "; ".join(exc.reasons))
    click.echo(f"ingested item {item.id} with {len(item.images)} pages")
    if publish:
        _publish(item)


def _storage():  # type: ignore[no-untyped-def]
    from . import get_storage

    return get_storage()


def _publish(item: Item) -> None:
    from .services.publish import publish_item
    from .web import public_urls

    result = publish_item(item, _storage(), public_urls())
    click.echo(f"published {result.item_id}: {public_urls().manifest(result.item_id)}")


@click.command("publish")
@click.argument("item_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Republish every published item.")
@with_appcontext
def publish(item_ids: tuple[str, ...], everything: bool) -> None:
    """Publish items, or rebuild every published manifest with --all."""
    if everything:
        query = db.select(Item).filter_by(status="published")
        item_ids = tuple(db.session.execute(query.with_only_columns(Item.id)).scalars())
    if not item_ids:
        _fail("name the items to publish, or use --all")
    for item_id in item_ids:
        item = db.session.get(Item, item_id)
        if item is None:
            _fail(f"no item has the id {item_id!r}")
        _publish(item)


@click.command("load-sample")
@with_appcontext
def load_sample() -> None:
    """Draw and ingest the sample collection, once."""
    from .sample import BOOKS, write_book
    from .services.ingest import ItemDraft, ingest_item, pages_in_folder
    from .web import ingest_settings

    db.create_all()
    collection = ensure_collection("mau", "Bộ sưu tập mẫu")
    collection.title = {"vi": "Bộ sưu tập mẫu", "en": "Sample collection"}
    db.session.commit()
    if collection.items:
        click.echo("the sample collection is already loaded")
        return
    root = Path(current_app.instance_path) / "sample"
    for book in BOOKS:
        folder = write_book(book, root)
        draft = ItemDraft(
            "mau", book.title, pages_in_folder(folder), book.summary, book.viewing_direction
        )
        item = ingest_item(draft, _storage(), ingest_settings())
        _publish(item)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, help="The repository's port.")
@click.option("--image-port", default=8182, show_default=True, help="The image server's port.")
@with_appcontext
def serve(host: str, port: int, image_port: int) -> None:
    """Serve the repository and the image server under gunicorn until Ctrl-C."""
    env = dict(os.environ)
    env.setdefault("TANGTHU_INSTANCE_PATH", current_app.instance_path)
    env.setdefault("TANGTHU_STORAGE_URL", current_app.config["STORAGE_URL"])
    env.setdefault("TANGTHU_PUBLIC_URL", f"http://{host}:{port}")
    env.setdefault("TANGTHU_IMAGE_URL", f"http://{host}:{image_port}")
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(PROJECT_ROOT),
        "--worker-class",
        "gthread",
        "--threads",
        "8",
        "--access-logfile",
        "-",
        "--no-control-socket",
    ]
    processes = [
        subprocess.Popen(
            [*gunicorn, "--bind", f"{host}:{image_port}", "--workers", "2", "wsgi:image_app()"],
            env=env,
        ),
        subprocess.Popen(
            [*gunicorn, "--bind", f"{host}:{port}", "--workers", "2", "wsgi:repository_app()"],
            env=env,
        ),
    ]
    click.echo(
        f"Tàng Thư: http://{host}:{port}/  (images: http://{host}:{image_port}/)"
        "  Ctrl-C stops both."
    )
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)


@click.command("demo-admin")
@with_appcontext
def demo_admin() -> None:
    """Make a curator account for the demo and print its one-time password."""
    from .models import User
    from .services.accounts import NewUser, create_user

    db.create_all()
    if db.session.execute(db.select(User).filter_by(username="curator")).scalar():
        click.echo("demo account: curator (password as printed when it was made)")
        return
    password = secrets.token_urlsafe(12)
    create_user(NewUser("curator", password, "admin"))
    click.echo(f"demo account: curator / {password}")


COMMANDS = (init_db, create_user, ingest, publish, load_sample, serve, demo_admin)


def register_commands(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, help="Tàng Thư repository commands.")
