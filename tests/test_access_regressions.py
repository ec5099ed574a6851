"""Regression tests for the leaks found by trying the demo as an attacker with an account.

Each test names the finding it proves closed. The whole matrix of levels, statuses and
viewers is in test_access_matrix.py; these follow single attacks step by step, with the
real repository and image server apps sharing one storage folder.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import Client

import image_server
from repository import create_app
from repository.extensions import db
from repository.models import Item, LoginAttempt
from tests.helpers import csrf_token, post_sign_in, sign_in

PARTNER = "https://partner.thuvien.vn"
EVIL = "https://evil.example"


@pytest.fixture
def app(app_config: dict[str, Any]) -> Flask:
    app = create_app({**app_config, "PARTNER_ORIGINS": PARTNER, "LOGIN_MAX_FAILURES": 3})
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def images(app: Flask) -> Client:
    """The image server over the repository's storage, with the same keys and partners."""
    server = image_server.create_app(
        {
            "STORAGE_URL": (Path(app.instance_path) / "storage").as_uri(),
            "VIPS_LOCKDOWN": False,
            "ACCESS_TOKEN_KEYS": app.config["ACCESS_TOKEN_KEYS"],
            "PUBLIC_URL": app.config["PUBLIC_URL"],
            "PARTNER_ORIGINS": [PARTNER],
        }
    )
    return Client(server, use_cookies=False)


def _user(runner: FlaskCliRunner, name: str, role: str = "--reader") -> tuple[str, str]:
    password = f"mat-khau-{name}"
    result = runner.invoke(args=["create-user", role, name, "--password", password])
    assert result.exit_code == 0, result.output
    return name, password


def _restricted_item(runner: FlaskCliRunner, app: Flask, make_pages: Any) -> tuple[str, str]:
    result = runner.invoke(
        args=["ingest", str(make_pages(count=1)), "--collection", "kho", "--publish"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        item = db.session.execute(db.select(Item)).scalar_one()
        item_id, image_id = item.id, item.images[0].id
    assert runner.invoke(args=["access", item_id, "restricted"]).exit_code == 0
    return item_id, image_id


def _access_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("tangthu_access")
    assert cookie is not None
    return cookie.value


def _tile(images: Client, image_id: str, token: str) -> int:
    answer = images.get(
        f"/iiif/3/{image_id}/0,0,256,256/256,/0/default.jpg",
        headers={"Cookie": f"tangthu_access={token}"},
    )
    return answer.status_code


def _post_message(html: str) -> tuple[dict[str, Any], str]:
    match = re.search(r"postMessage\((.*), (\".*?\")\);", html)
    assert match, html
    return json.loads(match.group(1)), json.loads(match.group(2))


@pytest.mark.parametrize("service", ["/auth/iiif/token", "/auth/iiif2/token"])
def test_4_token_services_give_tokens_only_to_our_site_and_named_partners(
    client: FlaskClient, runner: FlaskCliRunner, service: str
) -> None:
    sign_in(client, *_user(runner, "docgia"))
    for origin, trusted in ((EVIL, False), ("null", False), (PARTNER, True)):
        page = client.get(service, query_string={"messageId": "1", "origin": origin})
        if origin == "null":
            assert page.status_code == 400  # not an origin at all
            continue
        message, target = _post_message(page.get_data(as_text=True))
        assert target == origin
        assert ("accessToken" in message) is trusted, origin
        if not trusted:
            assert "invalidOrigin" in json.dumps(message)
            assert "eyJ" not in page.get_data(as_text=True)  # no JWT anywhere on the page


def test_4_a_token_from_the_token_service_opens_no_pixels(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    images: Client,
    make_pages: Any,
) -> None:
    _, image_id = _restricted_item(runner, app, make_pages)
    sign_in(client, *_user(runner, "docgia"))
    token = client.get("/auth/iiif/token").get_json()["accessToken"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert images.get(f"/iiif/3/{image_id}/info.json", headers=bearer).status_code == 200
    assert images.get(f"/iiif/3/{image_id}/probe", headers=bearer).get_json()["status"] == 200
    for path in ("full/max/0/default.jpg", "0,0,256,256/256,/0/default.jpg"):
        assert images.get(f"/iiif/3/{image_id}/{path}", headers=bearer).status_code == 401
    assert _tile(images, image_id, _access_cookie(client)) == 200  # the cookie still does


def test_5_cors_names_only_trusted_origins_for_images_not_open_to_all(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    images: Client,
    make_pages: Any,
) -> None:
    _, image_id = _restricted_item(runner, app, make_pages)
    sign_in(client, *_user(runner, "docgia"))
    cookie = f"tangthu_access={_access_cookie(client)}"
    url = f"/iiif/3/{image_id}/0,0,256,256/256,/0/default.jpg"
    for origin in (EVIL, "null", "https://sub.127.0.0.1", "http://127.0.0.1:8000.evil.example"):
        answer = images.get(url, headers={"Cookie": cookie, "Origin": origin})
        assert answer.headers["Access-Control-Allow-Origin"] == "*", origin
        assert "Access-Control-Allow-Credentials" not in answer.headers
        assert "Origin" in answer.headers.get("Vary", "")
    for origin in (PARTNER, "http://127.0.0.1:8000"):
        answer = images.get(url, headers={"Cookie": cookie, "Origin": origin})
        assert answer.headers["Access-Control-Allow-Origin"] == origin
        assert answer.headers["Access-Control-Allow-Credentials"] == "true"


def _sidecar(app: Flask, image_id: str) -> dict[str, Any]:
    path = Path(app.instance_path) / "storage" / "policies" / f"{image_id}.json"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def test_6_a_collections_first_reader_group_reaches_the_image_server_at_once(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    images: Client,
    make_pages: Any,
) -> None:
    _, image_id = _restricted_item(runner, app, make_pages)
    sign_in(client, *_user(runner, "docgia"))
    token = _access_cookie(client)
    assert _tile(images, image_id, token) == 200  # no groups yet: every reader
    assert runner.invoke(args=["group", "add", "han-nom"]).exit_code == 0
    assert runner.invoke(args=["group", "collection", "han-nom", "kho"]).exit_code == 0
    assert _sidecar(app, image_id)["full_for"] == ["group:han-nom", "staff"]
    assert _tile(images, image_id, token) == 401  # no republish needed


def test_6_a_collections_groups_changed_in_the_admin_reach_the_image_server(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    make_pages: Any,
) -> None:
    _, image_id = _restricted_item(runner, app, make_pages)
    assert runner.invoke(args=["group", "add", "han-nom"]).exit_code == 0
    sign_in(client, *_user(runner, "thuthu", "--curator"))
    form = client.get("/admin/collections/kho/edit").get_data(as_text=True)
    group_id = re.search(r'name="groups"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="groups"', form)
    assert group_id, form
    answer = client.post(
        "/admin/collections/kho/edit",
        data={
            "csrf_token": csrf_token(form),
            "title_vi": "Kho",
            "default_access": "restricted",
            "groups": group_id.group(1) or group_id.group(2),
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert _sidecar(app, image_id)["full_for"] == ["group:han-nom", "staff"]


def test_6_sign_out_ends_the_session_and_every_copy_of_the_access_cookie(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    images: Client,
    make_pages: Any,
) -> None:
    item_id, image_id = _restricted_item(runner, app, make_pages)
    sign_in(client, *_user(runner, "docgia"))
    token = _access_cookie(client)
    stolen_session = client.get_cookie("session")
    assert stolen_session is not None
    assert _tile(images, image_id, token) == 200
    logout = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/auth/logout", data={"csrf_token": logout}).status_code == 302
    assert _tile(images, image_id, token) == 401  # the copied cookie opens nothing
    replay = app.test_client()
    replay.set_cookie("session", stolen_session.value)
    assert "docgia" not in replay.get("/").get_data(as_text=True)  # signed out everywhere
    assert replay.get("/auth/iiif/token").get_json()["error"] == "missingCredentials"
    # Signing in again works, with a new epoch.
    sign_in(client, "docgia", "mat-khau-docgia")
    assert _tile(images, image_id, _access_cookie(client)) == 200
    assert client.get(f"/items/{item_id}").status_code == 200


def test_6_leaving_a_group_ends_that_readers_access(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    images: Client,
    make_pages: Any,
) -> None:
    _, image_id = _restricted_item(runner, app, make_pages)
    assert runner.invoke(args=["group", "add", "han-nom"]).exit_code == 0
    assert runner.invoke(args=["group", "collection", "han-nom", "kho"]).exit_code == 0
    _user(runner, "docgia")
    assert runner.invoke(args=["group", "member", "han-nom", "docgia"]).exit_code == 0
    sign_in(client, "docgia", "mat-khau-docgia")
    token = _access_cookie(client)
    assert _tile(images, image_id, token) == 200
    result = runner.invoke(args=["group", "member", "han-nom", "docgia", "--remove"])
    assert result.exit_code == 0
    assert _tile(images, image_id, token) == 401


def test_10_failing_on_purpose_elsewhere_does_not_lock_an_administrator_out(
    client: FlaskClient, runner: FlaskCliRunner, app: Flask
) -> None:
    name, password = _user(runner, "quantri", "--admin")
    attacker = {"REMOTE_ADDR": "198.51.100.66"}
    for _ in range(10):
        token = csrf_token(client.get("/auth/login", environ_base=attacker).get_data(as_text=True))
        client.post(
            "/auth/login",
            data={"username": name, "password": "wrong", "csrf_token": token},
            environ_base=attacker,
        )
    admin = app.test_client()
    assert post_sign_in(admin, name, password).status_code == 302  # from the office
    token = csrf_token(client.get("/auth/login", environ_base=attacker).get_data(as_text=True))
    again = client.post(
        "/auth/login",
        data={"username": name, "password": password, "csrf_token": token},
        environ_base=attacker,
    )
    assert again.status_code == 429  # the guesser stays locked out, even with the password


def test_10_parallel_guesses_cannot_slip_past_the_lock_out(
    app: Flask, runner: FlaskCliRunner
) -> None:
    name, _ = _user(runner, "docgia")
    app.config["WTF_CSRF_ENABLED"] = False  # each thread posts once, as a script would
    outcomes: list[int] = []

    def guess(number: int) -> None:
        answer = app.test_client().post(
            "/auth/login", data={"username": name, "password": f"wrong-{number}"}
        )
        outcomes.append(answer.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = [status for status in outcomes if status != 429]
    assert len(outcomes) == 12 and len(checked) <= 3, outcomes  # LOGIN_MAX_FAILURES
    with app.app_context():
        attempts = db.session.execute(db.select(db.func.count()).select_from(LoginAttempt))
        assert attempts.scalar_one() == 12
