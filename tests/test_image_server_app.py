"""The image server's WSGI app, driven in-process: routes, headers, and random paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from image_server import create_app
from image_server.pyramids import PyramidSettings, save_pyramid
from tests.helpers import draw_grid_image, open_policy


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Client:
    root = tmp_path_factory.mktemp("storage")
    (root / "pyramids").mkdir()
    save_pyramid(draw_grid_image(1000, 700), root / "pyramids" / "page1.tif", PyramidSettings())
    open_policy(root, "page1")
    # In-process, the test also ingests, so the process-wide loader lock-down stays off.
    app = create_app(
        {
            "STORAGE_URL": root.as_uri(),
            "VIPS_LOCKDOWN": False,
            "IMAGE_URL": "https://images.example.org",
        }
    )
    return Client(app)


def test_base_uri_redirects_to_info(client: Client) -> None:
    response = client.get("/iiif/3/page1")
    assert response.status_code == 303
    assert response.headers["Location"] == "https://images.example.org/iiif/3/page1/info.json"


def test_info_json_for_both_versions(client: Client) -> None:
    v3 = client.get("/iiif/3/page1/info.json").get_json()
    assert v3["type"] == "ImageService3" and v3["profile"] == "level2"
    v2 = client.get("/iiif/2/page1/info.json").get_json()
    assert v2["@id"] == "https://images.example.org/iiif/2/page1"
    assert v2["profile"][0] == "http://iiif.io/api/image/2/level2.json"


def test_json_ld_under_content_negotiation(client: Client) -> None:
    response = client.get("/iiif/3/page1/info.json", headers={"Accept": "application/ld+json"})
    assert response.headers["Content-Type"] == (
        'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    )


def test_cors_head_and_options(client: Client) -> None:
    head = client.head("/iiif/3/page1/full/max/0/default.jpg")
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) > 0
    options = client.options("/iiif/3/page1/info.json")
    assert options.status_code == 204
    assert options.headers["Access-Control-Allow-Origin"] == "*"
    assert client.post("/iiif/3/page1/info.json").status_code == 405


def test_canonical_link_and_etag(client: Client) -> None:
    response = client.get("/iiif/3/page1/0,0,1000,700/max/0/color.jpg")
    assert (
        '<https://images.example.org/iiif/3/page1/full/max/0/default.jpg>;rel="canonical"'
        in (response.headers["Link"])
    )
    again = client.get(
        "/iiif/3/page1/full/max/0/default.jpg", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize(
    ("fmt", "media"),
    [("png", "image/png"), ("webp", "image/webp"), ("gif", "image/gif"), ("tif", "image/tiff")],
)
def test_formats(client: Client, fmt: str, media: str) -> None:
    response = client.get(f"/iiif/3/page1/full/!200,200/0/default.{fmt}")
    assert response.status_code == 200 and response.headers["Content-Type"] == media


segments = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(segments, min_size=0, max_size=7), st.sampled_from(["2", "3", "x"]))
def test_random_paths_never_cause_a_server_error(
    client: Client, parts: list[str], version: str
) -> None:
    from urllib.parse import quote

    path = "/iiif/" + "/".join([version, "page1", *(quote(p, safe="") for p in parts)])
    response = client.get(path)
    assert response.status_code in (200, 303, 400, 404, 501), (path, response.data)
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("text/plain")


def test_only_iiif_paths_and_health_are_served(client: Client) -> None:
    assert client.get("/etc/passwd").status_code == 404
    assert client.get("/health").data == b"ok\n"


def test_arbitrary_rotation_as_png_has_a_transparent_background(client: Client) -> None:
    response = client.get("/iiif/3/page1/full/!200,200/45/default.png")
    image = pyvips.Image.new_from_buffer(response.data, "")
    assert image.hasalpha()
    assert image[image.bands - 1](0, 0) == [0.0]  # a corner outside the rotated page
    centre = image(image.width // 2, image.height // 2)
    assert centre[-1] == 255.0


def test_mirroring_flips_left_and_right(client: Client) -> None:
    plain = pyvips.Image.new_from_buffer(
        client.get("/iiif/3/page1/full/max/0/default.png").data, ""
    )
    mirrored = pyvips.Image.new_from_buffer(
        client.get("/iiif/3/page1/full/max/!0/default.png").data, ""
    )
    assert (plain.fliphor() - mirrored).abs().max() == 0


@pytest.mark.parametrize(("quality", "bands"), [("gray", 1), ("bitonal", 1), ("color", 3)])
def test_qualities(client: Client, quality: str, bands: int) -> None:
    body = client.get(f"/iiif/3/page1/full/!100,100/0/{quality}.png").data
    image = pyvips.Image.new_from_buffer(body, "")
    assert image.bands == bands
    if quality == "bitonal":
        values = {v for v in range(256) if image.hist_find()(v, 0)[0] > 0}
        assert values <= {0, 255}


def test_the_c_heap_is_trimmed_every_so_many_renders() -> None:
    from image_server.memory import Trimmer

    trimmer = Trimmer(every=3)
    assert [trimmer.rendered() for _ in range(6)] == [False, False, True, False, False, True]


def test_big_buffers_are_mmapped_with_a_fixed_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """glibc's dynamic threshold would send libvips' big buffers to the heaps after the
    first one is freed; the server fixes it unless the environment already does."""
    import image_server.memory as memory

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(memory, "_glibc", lambda name: lambda p, v: calls.append((p, v)) or 1)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert memory.fix_mmap_threshold(131072) and calls == [(memory.M_MMAP_THRESHOLD, 131072)]
    assert not memory.fix_mmap_threshold(0)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert not memory.fix_mmap_threshold(131072) and len(calls) == 1
    monkeypatch.undo()
    # The real call, on this machine's glibc, takes the value.
    assert memory.fix_mmap_threshold(memory.MMAP_THRESHOLD)


def test_ready_says_what_failed_and_why_only_to_the_monitoring_network(tmp_path: Path) -> None:
    app = create_app(
        {
            "STORAGE_URL": (tmp_path / "gone").as_uri(),
            "VIPS_LOCKDOWN": False,
            "MONITOR_NETWORKS": "10.9.0.0/16",
        }
    )
    client = Client(app)
    public = client.get("/ready", environ_base={"REMOTE_ADDR": "203.0.113.4"})
    assert public.status_code == 503 and public.get_json() == {"storage": "unreachable"}
    monitor = client.get("/ready", environ_base={"REMOTE_ADDR": "10.9.4.4"})
    assert monitor.get_json() == {"storage": "unreachable: FileNotFoundError"}


def _as_deployed(script: str, tmp_path: Path) -> str:
    """The last line ``script`` prints, run in a fresh interpreter beside wsgi.py."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "TANGTHU_INSTANCE_PATH": str(tmp_path / "instance"),
        "TANGTHU_STORAGE_URL": (tmp_path / "storage").as_uri(),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("factory", ["image_app"])
def test_what_start_up_built_is_left_out_of_every_later_collection(
    factory: str, tmp_path: Path
) -> None:
    """A full garbage collection walks every tracked object. The image server, built as
    deployed, freezes what start-up made; only what requests make later is left to walk.
    (The repository does not: see repository.serve.)"""
    import json

    script = (
        "import gc, json, wsgi\n"
        f"app = wsgi.{factory}()\n"
        "import sys\n"
        "seen = [gc.get_freeze_count(), len(gc.get_objects()), sys.getswitchinterval()]\n"
        "print(json.dumps(seen))\n"
    )
    frozen, walked, switch = json.loads(_as_deployed(script, tmp_path))
    assert frozen > 10_000 and walked < frozen / 20
    if factory == "image_app":  # tiles wait at most 0.5 ms for the GIL, not Python's 5 ms
        assert switch == pytest.approx(0.0005)


def test_the_repository_collects_young_objects_less_often(tmp_path: Path) -> None:
    """The repository as deployed (wsgi.repository_app) collects young objects every
    20,000 allocations, not Python's 700 (see repository.YOUNG_COLLECTION_THRESHOLD)."""
    script = "import gc, wsgi\nwsgi.repository_app()\nprint(gc.get_threshold()[0])\n"
    assert int(_as_deployed(script, tmp_path)) == 20_000
