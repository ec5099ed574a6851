"""Fixtures after Flask's tutorial: app, client and runner, each test with its own instance."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository import create_app
from repository.cli.serve import follow_base_url
from repository.extensions import db
from repository.models import Item
from repository.web import public_urls
from tests.helpers import draw_grid_image
from tests.s3server import real_s3_service  # noqa: F401  (the suite's S3: SeaweedFS)
from tests.servers import Server, free_port

ROOT = Path(__file__).resolve().parents[1]
STANDARDS = ROOT.parent / "shared" / "standards"
ARTIFACTS = ROOT / "tests" / "artifacts"


# The suite's own lanes, chosen on purpose by whoever runs it; every other TANGTHU_*
# variable is the developer's, and no test may read it.
LANE_VARIABLES = ("TANGTHU_TEST_POSTGRES", "TANGTHU_OPENSEARCH_URL", "TANGTHU_REGENERATE_GOLDEN")
LANE_PREFIXES = ("TANGTHU_TEST_S3_",)


def developer_settings(environ: Mapping[str, str]) -> list[str]:
    """The variables that would change the apps under test: TANGTHU_* and metrics."""
    return [
        name
        for name in environ
        if (name.startswith("TANGTHU_") or name == "PROMETHEUS_MULTIPROC_DIR")
        and name not in LANE_VARIABLES
        and not name.startswith(LANE_PREFIXES)
    ]


@pytest.fixture(scope="session", autouse=True)
def clean_session_environment() -> Iterator[None]:
    """Session fixtures (the served sample site) start without the developer's settings."""
    with pytest.MonkeyPatch.context() as patch:
        for name in developer_settings(os.environ):
            patch.delenv(name)
        yield


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the developer's settings, whatever ran before it."""
    for name in developer_settings(os.environ):
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def standards() -> Path:
    if not (STANDARDS / "iiif-presentation-3.0.schema.json").exists():
        pytest.fail(f"the shared standards folder is missing: expected {STANDARDS}")
    return STANDARDS


@pytest.fixture(scope="session")
def presentation_schema(standards: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (standards / "iiif-presentation-3.0.schema.json").read_text()
    )
    return schema


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "instance"


POSTGRES = os.environ.get("TANGTHU_TEST_POSTGRES", "")  # the scale-out lane's server


class Databases:
    """Fresh databases for one test: SQLite files by default, or, in the PostgreSQL lane
    (tests/postgres-lane.sh), new databases on its server, dropped afterwards."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def url(self, instance: Path) -> str:
        if not POSTGRES:
            return ""  # the app's own SQLite file in its instance folder
        import uuid

        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(POSTGRES.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        self.made.append(name)
        return POSTGRES.rsplit("/", 1)[0] + f"/{name}"

    def drop(self) -> None:
        if not self.made:
            return
        import psycopg

        with psycopg.connect(POSTGRES.replace("+psycopg", ""), autocommit=True) as admin:
            for name in self.made:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def databases() -> Iterator[Databases]:
    made = Databases()
    yield made
    made.drop()


@pytest.fixture
def app_config(instance: Path, databases: Databases) -> dict[str, Any]:
    config = {
        "INSTANCE_PATH": str(instance),
        "TESTING": True,
        "SECRET_KEY": "test-only-secret",
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        # The tests' partners and manifests are served on 127.0.0.1, which is otherwise
        # refused as a local address.
        "HARVEST_ALLOW_NETWORKS": ["127.0.0.0/8"],
    }
    url = databases.url(instance)
    if url:
        config["DATABASE_URL"] = url
    return config


@pytest.fixture
def second_config(
    app_config: dict[str, Any], databases: Databases, tmp_path: Path
) -> dict[str, Any]:
    """Another instance's configuration, with a database of its own."""
    instance = tmp_path / "second"
    config = {**app_config, "INSTANCE_PATH": str(instance)}
    config.pop("DATABASE_URL", None)
    url = databases.url(instance)
    if url:
        config["DATABASE_URL"] = url
    return config


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)
    with app.app_context():
        from repository.extensions import db

        db.create_all()
    yield app
    from repository.services.collections import RENEWED

    RENEWED.wait()  # counts renewed in the background are done with the database
    with app.app_context():
        from repository.extensions import db

        db.engine.dispose()  # let the PostgreSQL lane drop the database


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def make_pages(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write ``count`` JPEG pages named 1.jpg … count.jpg into a new folder."""

    def make(
        count: int = 3,
        width: int = 1200,
        height: int = 900,
        name: str = "pages",
        names: list[str] | None = None,
    ) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for index, file_name in enumerate(names or [f"{n}.jpg" for n in range(1, count + 1)]):
            page = draw_grid_image(width + index, height)
            page.jpegsave(str(folder / file_name), Q=92)
        return folder

    return make


@functools.cache
def loaded_sample() -> Path:
    """An instance folder with the sample loaded (SQLite), made the first time it is asked
    for in this session: ``load-sample`` draws, ingests and reads the printed pages (~25 s),
    once rather than for each module's site. The folder is removed when the session ends."""
    root = Path(tempfile.mkdtemp(prefix="tangthu-sample-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    instance = root / "instance"
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PUBLIC_URL": "http://127.0.0.1:9",  # each copy's manifests are rewritten
            "IMAGE_URL": "http://127.0.0.1:9",
            "STORAGE_URL": (instance / "storage").as_uri(),
        }
    )
    result = app.test_cli_runner().invoke(args=["load-sample"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        db.engine.dispose()
    with sqlite3.connect(instance / "tangthu.sqlite") as connection:  # one file to copy
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return instance


@contextlib.contextmanager
def sample_site(
    root: Path,
    extra_env: dict[str, str] | None = None,
    prepare: Callable[[FlaskCliRunner, dict[str, str]], None] | None = None,
) -> Iterator[dict[str, str]]:
    """The sample collection, loaded and served by both apps on free ports, with a curator
    (thuthu) and a reader (docgia); ``extra_env`` adds TANGTHU_* settings to both apps, and
    ``prepare`` runs commands on the instance before it is served."""
    instance = root / "instance"
    web_port, image_port = free_port(), free_port()
    env = {
        "TANGTHU_INSTANCE_PATH": str(instance),
        "TANGTHU_SECRET_KEY": secrets.token_urlsafe(48),  # gunicorn refuses weak ones
        "TANGTHU_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "TANGTHU_IMAGE_URL": f"http://127.0.0.1:{image_port}",
        "TANGTHU_SESSION_COOKIE_SECURE": "false",
        "TANGTHU_STORAGE_URL": (instance / "storage").as_uri(),
        **(extra_env or {}),
    }
    site_databases = Databases()
    database = site_databases.url(instance)
    if database:
        env["TANGTHU_DATABASE_URL"] = database
    settings = {k.removeprefix("TANGTHU_"): v for k, v in env.items()}
    settings.pop("INSTANCE_PATH")
    if not database:  # SQLite: the sample as loaded once this session, copied
        shutil.copytree(loaded_sample(), instance)
    app: Flask = create_app({"INSTANCE_PATH": str(instance), **settings})
    if database:
        result = app.test_cli_runner().invoke(args=["load-sample"])
        assert result.exit_code == 0, result.output
    else:
        with app.app_context():  # its manifests rewritten for this site, as `serve` does
            follow_base_url(public_urls())
    for role, name, password in (
        ("--curator", "thuthu", "mat-khau-thu-thu"),
        ("--reader", "docgia", "mat-khau-doc-gia"),
    ):
        result = app.test_cli_runner().invoke(
            args=["create-user", role, name, "--password", password]
        )
        assert result.exit_code == 0, result.output
    with app.app_context():
        rtl = db.session.execute(
            db.select(Item.id).filter_by(viewing_direction="right-to-left", ocr_languages=None)
        ).scalar_one()
        restricted = db.session.execute(
            db.select(Item.id).filter_by(access="restricted")
        ).scalar_one()
        printed = db.session.execute(db.select(Item.id).filter_by(ocr_languages="vie")).scalar_one()
    ids = {"rtl_item": rtl, "restricted_item": restricted, "text_item": printed}
    if prepare is not None:
        prepare(app.test_cli_runner(), ids)
    # Both servers share the repository's access-token keys, as `tangthu serve` arranges.
    env["TANGTHU_ACCESS_TOKEN_KEYS"] = app.config["ACCESS_TOKEN_KEYS"]
    try:
        with (
            Server("image_app", env, port=image_port),
            Server("repository_app", env, port=web_port),
            queue_worker(env),
        ):
            yield {
                "web": f"http://127.0.0.1:{web_port}",
                "image": f"http://127.0.0.1:{image_port}",
                **ids,
                "instance": str(instance),
            }
    finally:
        with app.app_context():
            db.engine.dispose()
        site_databases.drop()


@contextlib.contextmanager
def queue_worker(env: Mapping[str, str]) -> Iterator[None]:
    """`tangthu worker` beside the two servers, as `tangthu serve` runs one."""
    import subprocess
    import sys

    from tests.servers import stop_process

    process = subprocess.Popen(
        [sys.executable, "-m", "repository.cli", "worker"], env={**os.environ, **env}
    )
    try:
        yield
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The sample collection, served by both apps under gunicorn on free ports."""
    with sample_site(tmp_path_factory.mktemp("site")) as served:
        yield served
