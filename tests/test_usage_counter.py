"""COUNTER item requests from the image server, and double clicks across processes.

The image server counts a render of the whole image at full size as a request of its item,
and nothing else (tiles, thumbnails); it posts them, signed, to the repository, whose
recorder and batched writer filter robots and double clicks as for the pages. Double
clicks are filtered where batches are written, so two processes that each see one click
within 30 seconds count it once.
"""

from __future__ import annotations

import secrets
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from image_server import usage as image_usage
from image_server.tokens import Keys
from repository import create_app
from repository.extensions import db
from repository.models import Collection, Image, Item, UsageClick, UsageCount, UsageSalt
from repository.public.statistics import recorder
from repository.services import usage
from tests.helpers import draw_grid_image
from tests.servers import Server, free_port

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
ADDRESS = "203.0.113.77"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The background flush waits an hour: each test flushes when it means to."""
    return {**app_config, "USAGE_FLUSH_SECONDS": 3600}


def requests_of(app: Flask, item_id: str) -> tuple[int, int]:
    """Total_Item_Requests and Unique_Item_Requests of an item, this month."""
    with app.app_context():
        found = usage.usage_by_item(date(2000, 1, 1), date(2100, 1, 1)).get(item_id, {})
        month = found.get(date.today().replace(day=1), usage.Usage(date.today()))
        return month.total_requests, month.unique_requests


def stored_usage(app: Flask) -> str:
    """Every value of the usage tables, as one text to search."""
    with app.app_context():
        rows = [
            *db.session.execute(db.select(UsageCount)).scalars(),
            *db.session.execute(db.select(UsageClick)).scalars(),
            *db.session.execute(db.select(UsageSalt)).scalars(),
        ]
        return " ".join(
            str(getattr(row, column.name)) for row in rows for column in row.__table__.columns
        )


@pytest.mark.parametrize(
    ("region", "size", "width", "height", "counted"),
    [
        ("full", "max", 2600, 1800, True),
        ("full", "full", 2600, 1800, True),  # 2.1's name for max
        ("full", "max", 1000, 692, True),  # max of a degraded image: all it may see
        ("full", "w", 2600, 1800, True),  # the full width asked for by number
        ("full", "pct", 2600, 1800, True),  # pct:100
        ("full", "w", 200, 138, False),  # a thumbnail
        ("full", "pct", 1300, 900, False),  # an overview
        ("pixels", "w", 256, 256, False),  # a tile
        ("pixels", "max", 2600, 1800, False),  # the whole image named as pixels: a region
        ("square", "max", 1800, 1800, False),
    ],
)
def test_what_counts_as_a_request_of_the_item(
    region: str, size: str, width: int, height: int, counted: bool
) -> None:
    assert image_usage.is_item_request(region, size, width, height, 2600, 1800) is counted


def hit(at: datetime, item_id: str = "abc", action: str = "image:p1") -> usage.Hit:
    return usage.Hit(at, item_id, usage.REQUEST, action, ADDRESS, BROWSER)


def test_double_clicks_on_two_processes_count_once(
    app: Flask, app_config: dict[str, Any], client: FlaskClient, instance: Path
) -> None:
    other = create_app(app_config)  # a second worker on the same database
    with app.app_context():
        books = Collection(slug="sach", title={"vi": "Sách"})
        item = Item(collection=books, title={"vi": "Truyện Kiều"}, status="published")
        db.session.add(item)
        db.session.commit()
        item_id = item.id
    # The same reader's page view reaches one worker, then the other, within 30 s.
    for worker in (client, other.test_client()):
        response = worker.get(
            f"/items/{item_id}",
            headers={"User-Agent": BROWSER},
            environ_base={"REMOTE_ADDR": ADDRESS},
        )
        assert response.status_code == 200
    assert recorder(app).flush() == 1 and recorder(other).flush() == 1
    with app.app_context():
        [(investigations,)] = db.session.execute(db.select(UsageCount.hits)).all()
    assert investigations == 1

    # Clocks injected through the hits: 20 s apart on two processes, the later one written
    # first; then 31 s after the last click, which counts again.
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
    assert recorder(other).record(hit(start + timedelta(seconds=20)))
    assert recorder(other).flush() == 1
    assert recorder(app).record(hit(start))
    assert recorder(app).flush() == 1
    assert requests_of(app, "abc") == (1, 1)
    assert recorder(app).record(hit(start + timedelta(seconds=51)))
    assert recorder(app).flush() == 1
    assert requests_of(app, "abc") == (2, 1)
    # Another image of the item is another link: not a double click.
    assert recorder(other).record(hit(start + timedelta(seconds=52), action="image:p2"))
    assert recorder(other).flush() == 1
    assert requests_of(app, "abc") == (3, 1)

    values = stored_usage(app)
    assert ADDRESS not in values and "Chrome/131.0" not in values
    database = instance / "tangthu.sqlite"
    if database.exists():
        stored = database.read_bytes()
        assert ADDRESS.encode() not in stored and b"Chrome/131.0" not in stored
    with other.app_context():
        db.engine.dispose()


def test_batches_written_at_the_same_moment_count_a_click_once(
    app: Flask, app_config: dict[str, Any]
) -> None:
    other = create_app(app_config)
    at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
    failures: list[BaseException] = []

    def write(instance: Flask, barrier: threading.Barrier, item_id: str, seconds: int) -> None:
        with instance.app_context():
            barrier.wait()
            try:
                usage.store([hit(at + timedelta(seconds=seconds), item_id)])
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

    rounds = [f"item{number}" for number in range(8)]
    for item_id in rounds:
        barrier = threading.Barrier(2)
        writers = [
            threading.Thread(target=write, args=(instance, barrier, item_id, seconds))
            for instance, seconds in ((app, 0), (other, 10))
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
    assert not failures
    assert [requests_of(app, item_id) for item_id in rounds] == [(1, 1)] * len(rounds)
    with other.app_context():
        db.engine.dispose()


def test_a_batch_needs_the_shared_key(app: Flask, client: FlaskClient) -> None:
    served = image_usage.ItemRequest(time.time(), "abc", "p1", ADDRESS, BROWSER)
    body = image_usage.encode([served])
    stranger = Keys.parse({"k1": "x" * 48})
    for header in ("", image_usage.signature(stranger, body)):
        response = client.post(
            image_usage.PATH,
            data=body,
            headers={image_usage.HEADER: header},
            content_type="application/json",
        )
        assert response.status_code == 403
    keys = app.extensions["tangthu.token_keys"]
    response = client.post(
        image_usage.PATH,
        data=b'{"requests": [{"at": "soon"}]}',
        headers={
            image_usage.HEADER: image_usage.signature(keys, b'{"requests": [{"at": "soon"}]}')
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    response = client.post(
        image_usage.PATH,
        data=body,
        headers={image_usage.HEADER: image_usage.signature(keys, body)},
        content_type="application/json",
    )
    assert response.status_code == 204
    assert recorder(app).flush() == 1
    assert requests_of(app, "abc") == (1, 1)


# -- through the real servers -------------------------------------------------------------


@pytest.fixture
def served(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, instance: Path
) -> Iterator[dict[str, str]]:
    """Two published items, the image server and the repository over HTTP, one database."""
    for name, width in (("kieu", 1300), ("marker", 1200)):  # two images, not one twice
        folder = tmp_path / name
        folder.mkdir()
        draw_grid_image(width, 900).pngsave(str(folder / "1.png"))
        result = runner.invoke(
            args=["ingest", str(folder), "--collection", "c", "--title", name, "--publish"]
        )
        assert result.exit_code == 0, result.output
    with app.app_context():
        rows = db.session.execute(
            db.select(Image.id, Image.item_id).order_by(Image.width.desc())
        ).all()
    web_port = free_port()
    env = {
        "TANGTHU_INSTANCE_PATH": str(instance),
        "TANGTHU_STORAGE_URL": (instance / "storage").as_uri(),
        "TANGTHU_SECRET_KEY": secrets.token_urlsafe(48),  # gunicorn refuses weak ones
        "TANGTHU_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "TANGTHU_ACCESS_TOKEN_KEYS": str(app.config["ACCESS_TOKEN_KEYS"]),
        "TANGTHU_USAGE_FLUSH_SECONDS": "0.2",
    }
    if app.config.get("DATABASE_URL"):
        env["TANGTHU_DATABASE_URL"] = str(app.config["DATABASE_URL"])
    with (
        Server("repository_app", env, port=web_port),
        Server("image_app", env) as images,
    ):
        (first, first_item), (second, second_item) = rows
        yield {
            "image": images.url,
            "kieu": first,
            "kieu_item": first_item,
            "marker": second,
            "marker_item": second_item,
        }


def get(url: str, agent: str) -> int:
    with urllib.request.urlopen(
        urllib.request.Request(url, headers={"User-Agent": agent}), timeout=30
    ) as response:
        response.read()
        return int(response.status)


def test_full_renders_are_requests_and_tiles_are_not(
    app: Flask, served: dict[str, str], instance: Path
) -> None:
    base = f"{served['image']}/iiif/3"
    kieu, reader_b = served["kieu"], BROWSER.replace("Chrome/131.0", "Chrome/132.0")
    for path, agent in (
        (f"{kieu}/full/max/0/default.jpg", BROWSER),  # a request
        (f"{kieu}/0,0,256,256/256,/0/default.jpg", BROWSER),  # a tile
        (f"{kieu}/full/200,/0/default.jpg", BROWSER),  # a thumbnail
        (f"{kieu}/full/max/0/default.jpg", CRAWLER),  # a robot
        (f"{kieu}/full/max/0/default.jpg", BROWSER),  # the same reader, within 30 s
        (f"{kieu}/full/1300,900/0/default.jpg", reader_b),  # another reader, at full size
        (f"{served['marker']}/full/max/0/default.jpg", BROWSER),  # sent after all the rest
    ):
        assert get(f"{base}/{path}", agent) == 200
    deadline = time.monotonic() + 30  # the image server sends every 5 s
    while requests_of(app, served["marker_item"]) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert requests_of(app, served["marker_item"]) == (1, 1)
    # Sent in order, so everything before the marker has been written by now.
    assert requests_of(app, served["kieu_item"]) == (2, 2)
    with app.app_context():
        investigations = usage.usage_by_item(date(2000, 1, 1), date(2100, 1, 1))
    month = date.today().replace(day=1)
    assert investigations[served["kieu_item"]][month].total_investigations == 2
    values = stored_usage(app)
    assert "127.0.0.1" not in values and "Chrome/13" not in values
    database = instance / "tangthu.sqlite"
    if database.exists():
        assert b"Chrome/13" not in database.read_bytes()
