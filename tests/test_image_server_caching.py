"""Passthrough of stored tiles, the memory and disk caches, and admission control."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import pyvips
from werkzeug.test import Client

from image_server import create_app
from image_server.cache import DiskCache, MemoryCache
from image_server.pyramids import PyramidSettings, save_pyramid
from image_server.tiff import read_tile, read_tile_grids
from image_server.views import ImageServer
from tests.helpers import draw_grid_image, open_policy, tile_colour


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    (tmp_path / "pyramids").mkdir()
    save_pyramid(draw_grid_image(1300, 900), tmp_path / "pyramids" / "img.tif", PyramidSettings())
    open_policy(tmp_path, "img")
    return tmp_path


def make_client(storage: Path, **config: object) -> tuple[Client, ImageServer]:
    app = create_app({"STORAGE_URL": storage.as_uri(), "VIPS_LOCKDOWN": False, **config})
    return Client(app), app


def test_whole_stored_tiles_pass_through_byte_for_byte(storage: Path) -> None:
    client, _ = make_client(storage)
    body = client.get("/iiif/3/img/256,512,256,256/256,256/0/default.jpg").data
    with open(storage / "pyramids" / "img.tif", "rb") as tiff:
        grid = read_tile_grids(tiff.fileno())[0]
        assert grid is not None
        assert body == read_tile(tiff.fileno(), grid, 256, 512)
    tile = pyvips.Image.new_from_buffer(body, "")
    assert (tile.width, tile.height) == (256, 256)
    decoded = pyvips.Image.new_from_file(str(storage / "pyramids" / "img.tif")).crop(
        256, 512, 256, 256
    )
    assert (tile - decoded).abs().max() == 0
    assert [round(tile[b].avg()) for b in range(3)] == pytest.approx(tile_colour(1, 2), abs=3)


def test_a_scaled_whole_tile_passes_through_from_its_pyramid_page(storage: Path) -> None:
    client, _ = make_client(storage)
    body = client.get("/iiif/3/img/0,0,512,512/256,256/0/default.jpg").data
    with open(storage / "pyramids" / "img.tif", "rb") as tiff:
        grid = read_tile_grids(tiff.fileno())[1]
        assert grid is not None and body == read_tile(tiff.fileno(), grid, 0, 0)


@pytest.mark.parametrize(
    "tail",
    [
        "1024,768,276,132/276,132/0/default.jpg",  # edge tile: stored padded, so decoded
        "256,512,256,256/256,256/0/gray.jpg",
        "256,512,256,256/256,256/90/default.jpg",
        "256,512,256,256/128,128/0/default.jpg",
    ],
)
def test_other_requests_are_rendered(storage: Path, tail: str) -> None:
    client, _ = make_client(storage)
    response = client.get(f"/iiif/3/img/{tail}")
    assert response.status_code == 200
    width, height = (int(v) for v in tail.split("/")[1].split(","))
    image = pyvips.Image.new_from_buffer(response.data, "")
    if "/90/" in tail:
        width, height = height, width
    assert (image.width, image.height) == (width, height)


def test_disk_cache_shares_entries_between_spellings_and_survives_restarts(
    storage: Path, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "derivatives"
    client, _ = make_client(storage, DERIVATIVE_CACHE_DIR=str(cache_dir))
    first = client.get("/iiif/3/img/full/max/0/color.png")
    assert first.status_code == 200
    files = list(cache_dir.glob("*/*"))
    assert len(files) == 1
    # A new process (fresh memory) and another spelling of the same request hit the file.
    again, _ = make_client(storage, DERIVATIVE_CACHE_DIR=str(cache_dir))
    second = again.get("/iiif/3/img/0,0,1300,900/1300,900/0/default.png")
    assert second.data == first.data
    assert second.headers["ETag"] == first.headers["ETag"]
    assert list(cache_dir.glob("*/*")) == files


def test_disk_cache_is_capped_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c", max_bytes=10_000)
    for number in range(30):
        cache.put(f"key-{number}", os.urandom(1000))
    cache.prune()
    sizes = [p.stat().st_size for p in (tmp_path / "c").glob("*/*")]
    assert sum(sizes) <= 10_000
    assert not list((tmp_path / "c").glob("*/.tmp-*"))
    assert cache.get("key-29") is not None  # the newest survive


def test_memory_cache_is_capped_by_bytes() -> None:
    cache = MemoryCache(max_bytes=3000, max_item_bytes=2000)
    for number in range(5):
        cache.put(str(number), b"x" * 1000)
    assert [cache.get(str(n)) is not None for n in range(5)] == [False, False, True, True, True]
    cache.put("big", b"x" * 2500)
    assert cache.get("big") is None


def test_a_changed_derivative_is_never_served_stale(storage: Path) -> None:
    client, _ = make_client(storage)
    before = client.get("/iiif/3/img/full/!100,100/0/default.png")
    pyramid = storage / "pyramids" / "img.tif"
    fresh = storage / "fresh.tif"
    save_pyramid(draw_grid_image(1300, 900).invert(), fresh, PyramidSettings())
    os.replace(fresh, pyramid)  # as storage writes: a new file, never a rewrite in place
    after = client.get("/iiif/3/img/full/!100,100/0/default.png")
    assert after.data != before.data and after.headers["ETag"] != before.headers["ETag"]


def test_large_requests_past_the_lane_queue_get_503_while_tiles_flow(storage: Path) -> None:
    client, app = make_client(storage, LANE_QUEUE=1, RETRY_AFTER=7)
    held = [app.lane._admit.acquire(blocking=False) for _ in range(2)]  # noqa: SLF001
    assert held == [True, True]  # one large render running, one waiting
    try:
        busy = client.get("/iiif/3/img/full/max/0/default.png")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "7"
        assert client.get("/iiif/3/img/0,0,256,256/256,256/0/default.jpg").status_code == 200
        assert client.get("/iiif/3/img/1024,768,276,132/276,/0/default.png").status_code == 200
    finally:
        for _ in held:
            app.lane._admit.release()  # noqa: SLF001
    assert client.get("/iiif/3/img/full/max/0/default.png").status_code == 200
    app.lane.stop()


def test_concurrent_requests_share_one_source_safely(storage: Path) -> None:
    client, _ = make_client(storage)
    statuses: list[int] = []

    def fetch() -> None:
        for x in range(0, 1024, 256):
            statuses.append(client.get(f"/iiif/3/img/{x},0,256,256/256,/0/default.jpg").status_code)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 32


def test_http_caching_headers(storage: Path) -> None:
    client, _ = make_client(storage, CACHE_MAX_AGE=600)
    response = client.get("/iiif/3/img/full/!100,100/0/default.jpg")
    assert response.headers["Cache-Control"] == "public, max-age=600, s-maxage=300"
    assert response.headers["Last-Modified"].endswith("GMT")
    info = client.get("/iiif/3/img/info.json")
    assert (
        client.get(
            "/iiif/3/img/info.json", headers={"If-None-Match": info.headers["ETag"]}
        ).status_code
        == 304
    )


@pytest.mark.parametrize("tightened", ["restricted", "withdrawn"])
def test_tightened_access_reaches_shared_caches_when_they_revalidate(
    storage: Path, tightened: str
) -> None:
    """Shared caches keep an open image SHARED_CACHE_MAX_AGE, then ask again with its
    ETag: once the image is no longer open, that question is decided anew (no 304), and
    the refusal is never stored by anyone. Browsers keep what they saw CACHE_MAX_AGE."""
    import json

    client, _ = make_client(storage, CACHE_MAX_AGE=86_400, SHARED_CACHE_MAX_AGE=60)
    tile, info = "/iiif/3/img/0,0,256,256/256,/0/default.jpg", "/iiif/3/img/info.json"
    etags = {}
    for url in (tile, info):
        response = client.get(url)
        assert response.headers["Cache-Control"] == "public, max-age=86400, s-maxage=60"
        etags[url] = response.headers["ETag"]
        assert client.get(url, headers={"If-None-Match": etags[url]}).status_code == 304
    public = {"restricted": "none", "withdrawn": "hidden"}[tightened]
    policy = {"access": tightened, "public": public, "full_for": ["staff", "reader"]}
    (storage / "policies" / "img.json").write_text(json.dumps(policy))
    for url in (tile, info):
        again = client.get(url, headers={"If-None-Match": etags[url]})
        assert again.status_code in (401, 403, 404), (url, again.status_code)
        caching = again.headers.get("Cache-Control", "")
        assert "public" not in caching and ("private" in caching or "no-store" in caching)
        assert again.headers.get("ETag") != etags[url]


def test_the_shared_cache_time_never_exceeds_the_browser_time(storage: Path) -> None:
    client, _ = make_client(storage, CACHE_MAX_AGE=30, SHARED_CACHE_MAX_AGE=300)
    response = client.get("/iiif/3/img/full/!100,100/0/default.jpg")
    assert response.headers["Cache-Control"] == "public, max-age=30, s-maxage=30"


def test_a_short_burst_waits_for_the_lane_instead_of_failing(storage: Path) -> None:
    client, app = make_client(storage, LANE_WAIT=5)
    turn = app.lane._turn  # noqa: SLF001
    assert turn.acquire()  # a large render is running
    threading.Timer(0.2, turn.release).start()  # and finishes soon
    assert client.get("/iiif/3/img/full/max/0/default.png").status_code == 200
    app.lane.stop()


def test_one_client_makes_one_large_image_at_a_time(storage: Path) -> None:
    client, app = make_client(storage, RETRY_AFTER=3)
    with app.per_client.slot("198.51.100.7"):
        same = client.get(
            "/iiif/3/img/full/max/0/default.png", environ_base={"REMOTE_ADDR": "198.51.100.7"}
        )
        assert same.status_code == 429 and same.headers["Retry-After"] == "3"
        tile = client.get(
            "/iiif/3/img/0,0,256,256/256,/0/default.jpg",
            environ_base={"REMOTE_ADDR": "198.51.100.7"},
        )
        assert tile.status_code == 200  # tiles are never limited
        other = client.get(
            "/iiif/3/img/full/max/0/default.png", environ_base={"REMOTE_ADDR": "198.51.100.8"}
        )
        assert other.status_code == 200
    app.lane.stop()


def test_a_render_past_its_time_limit_is_stopped_and_the_lane_recovers(storage: Path) -> None:
    client, app = make_client(storage, RENDER_SECONDS=0.001, RETRY_AFTER=4)
    slow = client.get("/iiif/3/img/full/max/0/default.png")
    assert slow.status_code == 503 and slow.headers["Retry-After"] == "4"
    assert b"took too long" in slow.data
    assert not app.lane.running  # its process was ended, render and all
    app.lane.settings = replace(app.lane.settings, seconds=60)
    assert client.get("/iiif/3/img/full/max/0/default.png").status_code == 200
    assert app.lane.running
    app.lane.stop()


def _peak_mb(app: ImageServer) -> int:
    """The lane process's peak address space so far (VmPeak), in MB."""
    child = app.lane._child  # noqa: SLF001
    status = Path(f"/proc/{child.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmPeak:"))
    return int(line.split()[1]) // 1024


def test_a_render_past_the_memory_ceiling_fails_in_the_lane_not_the_server(
    tmp_path: Path,
) -> None:
    """Noise does not compress: a 16 MP PNG of it needs some 50 MB of output buffer alone.

    The ceiling is set 40 MB above what the lane itself takes after a small render, as
    measured here, so the small render fits and the large one cannot."""
    (tmp_path / "pyramids").mkdir()
    bands = [pyvips.Image.gaussnoise(4000, 4000, sigma=60, mean=128).cast("uchar")] * 3
    noise = bands[0].bandjoin(bands[1:]).copy(interpretation="srgb")
    save_pyramid(noise, tmp_path / "pyramids" / "noise.tif", PyramidSettings())
    open_policy(tmp_path, "noise")
    small = "/iiif/3/noise/full/1500,/0/default.png"  # not a tile: made in the lane
    client, app = make_client(tmp_path)
    assert client.get(small).status_code == 200
    ceiling = _peak_mb(app) + 40
    app.lane.stop()
    client, app = make_client(tmp_path, RENDER_MEMORY_MB=ceiling)
    assert client.get(small).status_code == 200
    heavy = client.get("/iiif/3/noise/full/max/0/default.png")
    assert heavy.status_code == 413 and b"more memory" in heavy.data
    assert client.get("/iiif/3/noise/0,0,256,256/256,/0/default.jpg").status_code == 200
    assert client.get(small).status_code == 200  # the lane again, in a new process
    app.lane.stop()


def test_an_idle_lane_goes_away(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from image_server import lane

    monkeypatch.setattr(lane, "IDLE_SECONDS", 0.2)
    client, app = make_client(storage)
    assert client.get("/iiif/3/img/full/max/0/default.png").status_code == 200
    assert app.lane.running
    for _ in range(50):
        if not app.lane.running:
            break
        time.sleep(0.1)
    assert not app.lane.running


def test_etags_come_from_the_sidecar_checksum_so_every_server_agrees(
    storage: Path, tmp_path: Path
) -> None:
    open_policy(storage, "img", sha256="ab12")
    other = tmp_path / "other-server"
    (other / "pyramids").mkdir(parents=True)
    (other / "policies").mkdir()
    for name in ("pyramids/img.tif", "policies/img.json"):
        (other / name).write_bytes((storage / name).read_bytes())  # a new inode and mtime
    tail = "/iiif/3/img/full/!100,100/0/default.jpg"
    first = make_client(storage)[0].get(tail).headers["ETag"]
    second = make_client(other)[0].get(tail).headers["ETag"]
    assert first == second
    open_policy(other, "img", sha256="cd34")
    assert make_client(other)[0].get(tail).headers["ETag"] != first
