"""Accounts, lock-out, cookies, the IIIF Auth token pages, the audit log and access rules."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from image_server import tokens
from image_server.policy import Policy, decide, in_networks, parse_networks
from repository import create_app
from repository.extensions import db
from repository.models import AuditEvent, Collection, Item, ReaderGroup, User
from repository.services.access import (
    Viewer,
    credentials,
    full_access_grants,
    image_access,
    portable_credentials,
    public_access,
)
from tests.helpers import csrf_token, post_sign_in


@pytest.fixture
def app(app_config: dict[str, Any]) -> Flask:
    app = create_app({**app_config, "LOGIN_MAX_FAILURES": 3, "ONSITE_RANGES": ["10.8.0.0/16"]})
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def reader(runner: FlaskCliRunner) -> tuple[str, str]:
    result = runner.invoke(
        args=["create-user", "--reader", "docgia", "--password", "mat-khau-doc-gia"]
    )
    assert result.exit_code == 0, result.output
    return "docgia", "mat-khau-doc-gia"


def test_sign_in_sets_a_safe_access_cookie_with_the_readers_grants(
    app: Flask, client: FlaskClient, reader: tuple[str, str]
) -> None:
    response = post_sign_in(client, *reader)
    assert response.status_code == 302
    cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("tangthu_access=")
    )
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    claims = tokens.verify(app.extensions["tangthu.token_keys"], value)
    assert claims.subject == "docgia" and claims.grants == frozenset({"reader"})
    with app.app_context():
        assert db.session.execute(db.select(AuditEvent).filter_by(action="login")).scalar()


def test_session_cookies_are_secure_outside_the_demo(app_config: dict[str, Any]) -> None:
    config = {k: v for k, v in app_config.items() if "COOKIE_SECURE" not in k}
    app = create_app(config)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_repeated_failures_lock_the_account_with_a_clear_message(
    app: Flask, client: FlaskClient, reader: tuple[str, str]
) -> None:
    for _ in range(3):
        assert "Wrong username or password." in post_sign_in(client, reader[0], "wrong").get_data(
            as_text=True
        )
    locked = post_sign_in(client, *reader)  # even the right password, for a while
    assert locked.status_code == 429
    assert "Too many failed sign-ins for this account. Try again in 15 minutes." in (
        locked.get_data(as_text=True)
    )
    with app.app_context():
        actions = [e.action for e in db.session.execute(db.select(AuditEvent)).scalars()]
    assert actions.count("login-failed") == 3 and "login-locked" in actions


def test_sign_out_clears_the_access_cookie(client: FlaskClient, reader: tuple[str, str]) -> None:
    post_sign_in(client, *reader)
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post("/auth/logout", data={"csrf_token": token})
    cleared = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("tangthu_access=")]
    assert cleared and "Max-Age=0" in cleared[0]


def post_message(html: str) -> tuple[dict[str, Any], str]:
    match = re.search(r"postMessage\((.*), (\".*?\")\);", html)
    assert match, html
    return json.loads(match.group(1)), json.loads(match.group(2))


def test_auth1_token_page_posts_only_to_the_asking_origin(
    client: FlaskClient, reader: tuple[str, str]
) -> None:
    tricky = 'x"</script><script>alert(1)</script>'
    anonymous = client.get(
        "/auth/iiif/token", query_string={"messageId": tricky, "origin": "http://127.0.0.1:8000"}
    )
    message, origin = post_message(anonymous.get_data(as_text=True))
    assert message["error"] == "missingCredentials" and message["messageId"] == tricky
    assert origin == "http://127.0.0.1:8000"
    assert "<script>alert(1)" not in anonymous.get_data(as_text=True)
    post_sign_in(client, *reader)
    granted = client.get(
        "/auth/iiif/token", query_string={"messageId": "7", "origin": "http://127.0.0.1:8000"}
    )
    message, origin = post_message(granted.get_data(as_text=True))
    assert message["messageId"] == "7" and message["expiresIn"] > 0 and message["accessToken"]
    assert granted.headers["Cache-Control"] == "no-store"
    for bad in ("javascript:alert(1)", "https://x.vn/path", "", "https://a.vn\nb"):
        response = client.get("/auth/iiif/token", query_string={"messageId": "1", "origin": bad})
        assert response.status_code == 400


def test_auth2_token_service(client: FlaskClient, reader: tuple[str, str]) -> None:
    query = {"messageId": "m1", "origin": "http://127.0.0.1:8000"}
    message, _ = post_message(
        client.get("/auth/iiif2/token", query_string=query).get_data(as_text=True)
    )
    assert message["type"] == "AuthAccessTokenError2"
    post_sign_in(client, *reader)
    message, _ = post_message(
        client.get("/auth/iiif2/token", query_string=query).get_data(as_text=True)
    )
    assert message["type"] == "AuthAccessToken2" and message["messageId"] == "m1"


def test_login_service_closes_the_popup_once_signed_in(
    client: FlaskClient, reader: tuple[str, str]
) -> None:
    first = client.get("/auth/iiif/login?origin=https://a.vn")
    assert first.status_code == 302 and "/auth/login?next=" in first.headers["Location"]
    post_sign_in(client, *reader)
    assert "close-window.js" in client.get("/auth/iiif/login").get_data(as_text=True)


def test_reading_room_addresses_get_onsite_access_that_nothing_carries_away(
    client: FlaskClient,
) -> None:
    outside = client.get("/auth/iiif/kiosk", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert outside.status_code == 403
    inside = client.get("/auth/iiif/kiosk", environ_base={"REMOTE_ADDR": "10.8.3.4"})
    assert inside.status_code == 200
    # No session flag, no cookie and no token: the reading room is only its address.
    assert not [c for c in inside.headers.getlist("Set-Cookie") if "tangthu_access" in c]
    token = client.get("/auth/iiif/token", environ_base={"REMOTE_ADDR": "10.8.3.4"})
    assert token.status_code == 401 and token.get_json()["error"] == "missingCredentials"
    again = client.get("/auth/iiif/kiosk", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert again.status_code == 403


def test_access_rules(app: Flask) -> None:
    with app.app_context():
        group = ReaderGroup(name="han-nom")
        collection = Collection(slug="c", title={"vi": "c"}, groups=[group])
        item = Item(id="i1", collection=collection, status="published", access="restricted")
        db.session.add(item)
        db.session.commit()
        member = Viewer("reader", frozenset({"han-nom"}))
        assert full_access_grants(item) == {"staff", "group:han-nom"}
        assert image_access(Viewer("reader"), item) == "none"
        assert image_access(member, item) == "full"
        assert credentials(Viewer("curator", onsite=True)) == {"reader", "staff", "onsite"}
        assert portable_credentials(Viewer("curator", onsite=True)) == {"reader", "staff"}
        item.access = "degraded"
        assert public_access(item) == "degraded"
        item.access = "open"
        item.embargo_until = date.today() + timedelta(days=1)
        assert public_access(item) == "hidden"  # an embargo holds it at staff
        item.embargo_until = date.today()
        assert public_access(item) == "full"
        item.status = "draft"
        assert public_access(item) == "hidden"
    room = parse_networks(["10.8.0.0/16"])
    assert in_networks("10.8.0.1", room) and in_networks("::ffff:10.8.0.1", room)
    assert not in_networks("10.9.0.1", room)
    assert not in_networks("not-an-ip", room)
    # Written as one string, as environment variables are, it is still two networks.
    assert parse_networks("10.8.0.0/16, 192.168.5.0/24")[1] == parse_networks(["192.168.5.0/24"])[0]
    with pytest.raises(ValueError, match="'reading-room' is not a network"):
        parse_networks("10.8.0.0/16,reading-room")


def test_only_admins_read_the_audit_log(
    client: FlaskClient, runner: FlaskCliRunner, reader: tuple[str, str]
) -> None:
    runner.invoke(args=["create-user", "--curator", "thuthu", "--password", "mat-khau-thu-thu"])
    runner.invoke(args=["create-user", "--admin", "quantri", "--password", "mat-khau-quan-tri"])
    post_sign_in(client, "thuthu", "mat-khau-thu-thu")
    assert client.get("/admin/audit").status_code == 403
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    client.post("/auth/logout", data={"csrf_token": token})
    post_sign_in(client, "quantri", "mat-khau-quan-tri")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "user-created" in page and "login" in page and "thuthu" in page


def test_users_belong_to_groups(app: Flask) -> None:
    with app.app_context():
        user = User(username="u1", role="reader", groups=[ReaderGroup(name="g1")])
        db.session.add(user)
        db.session.commit()
        assert [g.name for g in db.session.get(User, user.id).groups] == ["g1"]


def test_reader_groups_from_the_command_line(
    app: Flask, runner: FlaskCliRunner, reader: tuple[str, str]
) -> None:
    from repository.cli.content import ensure_collection

    with app.app_context():
        ensure_collection("kho")
    assert runner.invoke(args=["group", "add", "han-nom", "--label-vi", "Hán Nôm"]).exit_code == 0
    assert runner.invoke(args=["group", "add", "Bad Name"]).exit_code != 0
    assert runner.invoke(args=["group", "member", "han-nom", "docgia"]).exit_code == 0
    result = runner.invoke(args=["group", "collection", "han-nom", "kho"])
    assert result.exit_code == 0 and "readable by han-nom" in result.output
    assert runner.invoke(args=["group", "member", "nope", "docgia"]).exit_code != 0
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(username="docgia")).scalar_one()
        assert [g.name for g in user.groups] == ["han-nom"]
        kho = db.session.execute(db.select(Collection).filter_by(slug="kho")).scalar_one()
        assert [g.name for g in kho.groups] == ["han-nom"]
        actions = {e.action for e in db.session.execute(db.select(AuditEvent)).scalars()}
    assert {"group-created", "group-member-added", "group-collection-added"} <= actions


def test_access_changes_and_withdrawal_reach_the_image_server_and_the_audit_log(
    app: Flask, runner: FlaskCliRunner, make_pages, client: FlaskClient
) -> None:
    result = runner.invoke(
        args=["ingest", str(make_pages(count=1)), "--collection", "c", "--publish"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        item = db.session.execute(db.select(Item)).scalar_one()
        item_id, image_id = item.id, item.images[0].id
    sidecar = app.instance_path + f"/storage/policies/{image_id}.json"
    assert json.loads(Path(sidecar).read_text())["public"] == "full"
    assert runner.invoke(args=["access", item_id, "restricted"]).exit_code == 0
    assert json.loads(Path(sidecar).read_text())["public"] == "none"
    assert runner.invoke(args=["access", item_id, "open", "--embargo", "2999-01-01"]).exit_code == 0
    held = Policy.from_json(json.loads(Path(sidecar).read_text()))
    assert held.hidden_until == date(2999, 1, 1)  # lifts on its day with nothing rewritten
    assert decide(held, frozenset({"reader"})).kind == "hidden"
    assert decide(held, frozenset(), date(2999, 1, 1)).kind == "full"
    assert client.get(f"/items/{item_id}").status_code == 404
    assert runner.invoke(args=["access", item_id, "open"]).exit_code == 0
    assert client.get(f"/iiif/{item_id}/manifest").status_code == 200
    assert runner.invoke(args=["withdraw", item_id]).exit_code == 0
    assert client.get(f"/iiif/{item_id}/manifest").status_code == 404
    assert json.loads(Path(sidecar).read_text())["public"] == "hidden"
    with app.app_context():
        actions = [e.action for e in db.session.execute(db.select(AuditEvent)).scalars()]
    assert actions.count("access-changed") == 3 and "withdraw" in actions and "publish" in actions
