"""Restricted reading that holds: the image server refuses, path by path, without a token.

For restricted and onsite images without a valid token, full resolution must never come
out through info.json sizes, full/max, pct: regions, upscaling, the 2.1 endpoint, the
derivative cache, 304 answers or HEAD requests. Degraded images never show more than
the configured edge. Tokens that are expired, forged, unsigned, for another audience or
signed with an unknown key count as no token.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from werkzeug.test import Client

from image_server import create_app, tokens
from image_server.pyramids import PyramidSettings, save_pyramid
from tests.helpers import draw_grid_image

KEYS = {"k2": "n" * 40, "k1": "o" * 40}  # k2 signs; k1 is an older key still accepted
WIDTH, HEIGHT = 2000, 1500


def sidecar(public: str, full_for: list[str], public_max: int = 500) -> dict[str, object]:
    return {
        "access": "x",
        "public": public,
        "public_max": public_max,
        "full_for": full_for,
        "sha256": "abc",
    }


POLICIES = {
    "open": sidecar("full", ["staff"]),
    "degraded": sidecar("degraded", ["reader"]),
    "restricted": sidecar("none", ["staff", "group:han-nom"]),
    "onsite": sidecar("none", ["staff", "onsite"]),
    "staff": sidecar("hidden", ["staff"]),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> tuple[Client, Path]:
    root = tmp_path_factory.mktemp("access")
    (root / "pyramids").mkdir()
    (root / "policies").mkdir()
    image = draw_grid_image(WIDTH, HEIGHT)
    for name, policy in POLICIES.items():
        save_pyramid(image, root / "pyramids" / f"{name}.tif", PyramidSettings())
        (root / "policies" / f"{name}.json").write_text(json.dumps(policy))
    save_pyramid(image, root / "pyramids" / "draft.tif", PyramidSettings())  # no sidecar
    app = create_app(
        {
            "STORAGE_URL": root.as_uri(),
            "VIPS_LOCKDOWN": False,
            "ACCESS_TOKEN_KEYS": KEYS,
            "TESTING": True,  # KEYS are readable on purpose; a deployment's would be refused
            "DERIVATIVE_CACHE_DIR": str(root / "cache"),
            "PUBLIC_URL": "https://thuvien.example.vn",
            "ONSITE_RANGES": "10.8.0.0/16",
        }
    )
    return Client(app, use_cookies=False), root  # cookies go as plain headers


def token(grants: list[str], key: str = "k2", lifetime: int = 600, **claims: object) -> str:
    keys = tokens.Keys.parse({key: KEYS.get(key, "z" * 40)})
    body = {
        "sub": "reader",
        "grants": grants,
        "aud": tokens.AUDIENCE,
        "exp": int(time.time()) + lifetime,
        **claims,
    }
    return jwt.encode({"alg": "HS256", "kid": key}, body, keys.keyset)


def cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"tangthu_access={value}"}


FULL_RESOLUTION_PATHS = [
    "/iiif/3/{id}/full/max/0/default.jpg",
    "/iiif/3/{id}/0,0,512,512/512,/0/default.jpg",
    "/iiif/3/{id}/pct:0,0,50,50/max/0/default.png",
    "/iiif/3/{id}/full/^4000,/0/default.jpg",
    "/iiif/3/{id}/0,0,256,256/256,256/0/default.jpg",
    "/iiif/2/{id}/full/full/0/default.jpg",
    "/iiif/2/{id}/0,0,256,256/256,/0/default.jpg",
]


@pytest.mark.parametrize("image", ["restricted", "onsite"])
@pytest.mark.parametrize("path", FULL_RESOLUTION_PATHS)
def test_no_token_no_pixels(server: tuple[Client, Path], image: str, path: str) -> None:
    client, _ = server
    url = path.format(id=image)
    assert client.get(url).status_code == 401
    assert client.head(url).status_code == 401
    # Even a correct ETag from an allowed reader's earlier answer gets no 304.
    allowed = client.get(url, headers=cookie(token(["staff"])))
    assert allowed.status_code == 200
    again = client.get(url, headers={"If-None-Match": allowed.headers["ETag"]})
    assert again.status_code == 401 and again.data.startswith(b"sign in")


@pytest.mark.parametrize("image", ["restricted", "onsite"])
def test_info_json_is_401_with_auth_services_and_no_sizes(
    server: tuple[Client, Path], image: str
) -> None:
    client, _ = server
    for version in ("3", "2"):
        response = client.get(f"/iiif/{version}/{image}/info.json")
        assert response.status_code == 401
        info = response.get_json()
        assert info["sizes"] == [] and info["tiles"] == []
        profiles = [s.get("profile") for s in info["service"]]
        expected = ["external", "kiosk", "login"] if image == "onsite" else ["login"]
        for profile in expected:
            assert f"http://iiif.io/api/auth/1/{profile}" in profiles
        assert response.headers["Cache-Control"].startswith("private")
    v3 = client.get(f"/iiif/3/{image}/info.json").get_json()
    assert any(s.get("type") == "AuthProbeService2" for s in v3["service"])


def test_the_right_grant_opens_each_level(server: tuple[Client, Path]) -> None:
    client, _ = server
    tile = "/iiif/3/{}/0,0,256,256/256,256/0/default.jpg"
    cases = {
        ("restricted", "group:han-nom"): 200,
        ("restricted", "reader"): 401,  # signed in but not in the allowed group
        ("onsite", "onsite"): 401,  # the reading room is an address, never a token
        ("onsite", "reader"): 401,
        ("degraded", "reader"): 200,
        ("staff", "staff"): 200,
        ("staff", "reader"): 404,  # staff items do not exist for anyone else
        ("draft", "staff"): 200,  # a curator previewing an unpublished item
        ("draft", "reader"): 404,
    }
    for (image, grant), status in cases.items():
        cookie = f"tangthu_access={token([grant])}"
        got = client.get(tile.format(image), headers={"Cookie": cookie}).status_code
        assert got == status, (image, grant, got)
    inside, outside = {"REMOTE_ADDR": "10.8.4.2"}, {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get(tile.format("onsite"), environ_base=inside).status_code == 200
    assert client.get(tile.format("onsite"), environ_base=outside).status_code == 401
    assert client.get(tile.format("restricted"), environ_base=inside).status_code == 401


@pytest.mark.parametrize("image", ["restricted", "onsite"])
def test_a_token_opens_info_json_and_the_probe_but_never_pixels(
    server: tuple[Client, Path], image: str
) -> None:
    """Tokens from the IIIF token services go to web pages' scripts: only what the Auth
    specs use them for (info.json and the probe) may accept them."""
    client, _ = server
    bearer = {"Authorization": f"Bearer {token(['staff', 'group:han-nom'])}"}
    assert client.get(f"/iiif/3/{image}/info.json", headers=bearer).status_code == 200
    assert client.get(f"/iiif/3/{image}/probe", headers=bearer).get_json()["status"] == 200
    for path in FULL_RESOLUTION_PATHS:
        assert client.get(path.format(id=image), headers=bearer).status_code == 401, path


def test_staff_and_unpublished_images_are_404_everywhere(server: tuple[Client, Path]) -> None:
    client, _ = server
    for image in ("staff", "draft"):
        for path in (
            "/iiif/3/{}/info.json",
            "/iiif/2/{}/info.json",
            "/iiif/3/{}/probe",
            "/iiif/3/{}/full/!100,100/0/default.jpg",
        ):
            assert client.get(path.format(image)).status_code == 404


def test_degraded_images_never_exceed_the_edge_for_the_public(server: tuple[Client, Path]) -> None:
    client, _ = server
    info = client.get("/iiif/3/degraded/info.json").get_json()
    assert max(max(s["width"], s["height"]) for s in info["sizes"]) <= 500
    factors = info["tiles"][0]["scaleFactors"]
    assert min(factors) >= 4  # 2000 / 4 = 500: no finer level is offered
    whole = client.get("/iiif/3/degraded/full/max/0/default.jpg")
    assert whole.status_code == 200
    import pyvips

    image = pyvips.Image.new_from_buffer(whole.data, "")
    assert max(image.width, image.height) <= 500
    for path in (
        "/iiif/3/degraded/0,0,256,256/256,/0/default.jpg",
        "/iiif/3/degraded/full/^1000,/0/default.jpg",
        "/iiif/2/degraded/full/full/0/default.jpg",
        "/iiif/3/degraded/full/1000,/0/default.jpg",
    ):
        assert client.get(path).status_code == 401, path
    assert client.get("/iiif/3/degraded/0,0,1024,1024/256,/0/default.jpg").status_code == 200
    region = client.get("/iiif/3/degraded/pct:0,0,10,10/max/0/default.jpg")  # shown reduced
    part = pyvips.Image.new_from_buffer(region.data, "")
    assert part.width <= 50 + 1
    probe = client.get("/iiif/3/degraded/probe").get_json()
    assert probe["status"] == 401 and "substitute" in probe


def test_probe_reports_access(server: tuple[Client, Path]) -> None:
    client, _ = server
    assert client.get("/iiif/3/restricted/probe").get_json()["status"] == 401
    allowed = client.get(
        "/iiif/3/restricted/probe", headers={"Authorization": f"Bearer {token(['group:han-nom'])}"}
    )
    assert allowed.get_json()["status"] == 200
    assert allowed.headers["Cache-Control"] == "no-store"


def test_the_derivative_cache_serves_nobody_without_access(server: tuple[Client, Path]) -> None:
    client, root = server
    url = "/iiif/3/restricted/full/!300,300/0/default.png"
    assert client.get(url, headers=cookie(token(["staff"]))).status_code == 200
    assert list((root / "cache").glob("*/*"))  # now on disk
    assert client.get(url).status_code == 401


def unsigned(grants: list[str]) -> str:
    import base64

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    body = {"sub": "x", "grants": grants, "aud": tokens.AUDIENCE, "exp": int(time.time()) + 600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(body)}."


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: token(["staff"], lifetime=-10), id="expired"),
        pytest.param(lambda: token(["staff"], key="k9"), id="unknown-key"),
        pytest.param(lambda: unsigned(["staff"]), id="alg-none"),
        pytest.param(lambda: token(["staff"], aud="someone-else"), id="wrong-audience"),
        pytest.param(lambda: token(["staff"])[:-4] + "AAAA", id="forged-signature"),
        pytest.param(
            lambda: jwt.encode(
                {"alg": "HS512", "kid": "k2"},
                {
                    "sub": "x",
                    "grants": ["staff"],
                    "aud": tokens.AUDIENCE,
                    "exp": int(time.time()) + 60,
                },
                OctKey.import_key("n" * 40),
                algorithms=["HS512"],
            ),
            id="other-algorithm",
        ),
        pytest.param(lambda: "not.a.token", id="garbage"),
    ],
)
def test_bad_tokens_are_refused(server: tuple[Client, Path], bad) -> None:  # type: ignore[no-untyped-def]
    client, _ = server
    url = "/iiif/3/restricted/0,0,256,256/256,/0/default.jpg"
    assert client.get(url, headers={"Authorization": f"Bearer {bad()}"}).status_code == 401
    assert client.get(url, headers={"Cookie": f"tangthu_access={bad()}"}).status_code == 401


def test_an_older_rotated_key_is_still_accepted(server: tuple[Client, Path]) -> None:
    client, _ = server
    url = "/iiif/3/restricted/0,0,256,256/256,/0/default.jpg"
    old = token(["group:han-nom"], key="k1")
    assert client.get(url, headers=cookie(old)).status_code == 200


def test_open_images_stay_public_and_cacheable(server: tuple[Client, Path]) -> None:
    client, _ = server
    response = client.get("/iiif/3/open/full/max/0/default.jpg")
    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith("public")
    assert "service" not in client.get("/iiif/3/open/info.json").get_json()
