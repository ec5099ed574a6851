"""Disabled accounts: no sign-in of any kind (password or single sign-on), and every
session and image-access cookie they held ends at once; enabled again, they sign in as
before. Real SQLite, the real image server on the same storage, a real OIDC provider."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import Client

import image_server
from repository.extensions import db
from repository.models import AuditEvent, Item, User
from tests.helpers import csrf_token, post_sign_in, sign_in
from tests.oidc_provider import Person, Provider, serve
from tests.test_oidc import CALLBACK, CLIENT_ID, CLIENT_SECRET, build, english_client, sso_config
from tests.test_oidc import sign_in as sso_sign_in

EN = {"Accept-Language": "en"}
VI = {"Accept-Language": "vi"}
HOA = Person("9d2e", "hoa.reader", "hoa@example.vn", ("nhan-vien",), ())


def _run(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)


@pytest.fixture
def images(app: Flask) -> Client:
    """The image server over the repository's storage, with the same keys."""
    server = image_server.create_app(
        {
            "STORAGE_URL": (Path(app.instance_path) / "storage").as_uri(),
            "VIPS_LOCKDOWN": False,
            "ACCESS_TOKEN_KEYS": app.config["ACCESS_TOKEN_KEYS"],
            "PUBLIC_URL": app.config["PUBLIC_URL"],
        }
    )
    return Client(server, use_cookies=False)


@pytest.fixture
def restricted_image(app: Flask, runner: FlaskCliRunner, make_pages: Any) -> str:
    """A restricted item that the group han-nom may read; docgia is in it."""
    _run(runner, "ingest", str(make_pages(count=1)), "--collection", "kho", "--publish")
    with app.app_context():
        item = db.session.execute(db.select(Item)).scalar_one()
        item_id, image_id = item.id, item.images[0].id
    _run(runner, "access", item_id, "restricted")
    _run(runner, "group", "add", "han-nom")
    _run(runner, "group", "collection", "han-nom", "kho")
    for role, name in (("--reader", "docgia"), ("--curator", "thuthu"), ("--admin", "quantri")):
        _run(runner, "create-user", role, name, "--password", f"mat-khau-{name}")
    _run(runner, "group", "member", "han-nom", "docgia")
    return image_id


def _tile(images: Client, image_id: str, token: str) -> int:
    answer = images.get(
        f"/iiif/3/{image_id}/0,0,256,256/256,/0/default.jpg",
        headers={"Cookie": f"tangthu_access={token}"},
    )
    return answer.status_code


def _access_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("tangthu_access")
    assert cookie is not None
    return cookie.value


def _signed_in(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, name, f"mat-khau-{name}")
    return client


def _switch(client: FlaskClient, user_id: int, action: str, **fields: str) -> int:
    page = f"/admin/people/{user_id}"
    token = csrf_token(client.get(page, headers=EN).get_data(as_text=True))
    data = {"csrf_token": token, **fields}
    return client.post(f"{page}/{action}", data=data, headers=EN).status_code


def _user_id(app: Flask, name: str) -> int:
    with app.app_context():
        return int(db.session.execute(db.select(User.id).filter_by(username=name)).scalar_one())


def _actions(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars()
        return [(r.action, r.actor, r.target) for r in rows]


def test_disabling_ends_the_session_and_the_image_cookie_at_once_and_enabling_restores(
    app: Flask, runner: FlaskCliRunner, images: Client, restricted_image: str
) -> None:
    reader = _signed_in(app, "docgia")
    cookie = _access_cookie(reader)
    assert _tile(images, restricted_image, cookie) == 200
    assert "accessToken" in reader.get("/auth/iiif/token").get_json()
    curator = _signed_in(app, "thuthu")
    docgia = _user_id(app, "docgia")
    # Without ticking the confirmation, nothing changes.
    assert _switch(curator, docgia, "disable") == 422
    assert _tile(images, restricted_image, cookie) == 200
    assert _switch(curator, docgia, "disable", confirm="yes") == 302
    assert _tile(images, restricted_image, cookie) == 401  # the cookie already given
    assert reader.get("/auth/iiif/token").get_json()["error"] == "missingCredentials"
    refused = post_sign_in(app.test_client(), "docgia", "mat-khau-docgia")
    assert refused.status_code == 200  # type: ignore[attr-defined]
    assert "Wrong username or password" in refused.get_data(as_text=True)  # type: ignore[attr-defined]
    page = curator.get(f"/admin/people/{docgia}", headers=VI).get_data(as_text=True)
    assert "Đã vô hiệu hoá" in page and "Kích hoạt lại tài khoản" in page
    with app.app_context():
        user = db.session.get(User, docgia)
        assert user is not None and user.disabled and user.password_hash  # password kept
    assert _switch(curator, docgia, "enable", confirm="yes") == 302
    again = _signed_in(app, "docgia")  # the same password as before
    assert _tile(images, restricted_image, _access_cookie(again)) == 200
    assert ("user-disabled", "thuthu", "docgia") in _actions(app)
    assert ("user-enabled", "thuthu", "docgia") in _actions(app)


def test_a_session_of_an_account_marked_disabled_by_any_path_ends(
    app: Flask, restricted_image: str
) -> None:
    """A disabled account's session ends even when its epoch did not move (a row changed
    by hand, or by a path that forgot to move it)."""
    reader = _signed_in(app, "docgia")
    assert "Sign out" in reader.get("/", headers=EN).get_data(as_text=True)
    with app.app_context():
        db.session.execute(db.update(User).filter_by(username="docgia").values(disabled=True))
        db.session.commit()
    page = reader.get("/", headers=EN).get_data(as_text=True)
    assert "Sign out" not in page and "Sign in" in page


def test_a_curator_cannot_disable_staff_nor_anyone_themself(
    app: Flask, restricted_image: str
) -> None:
    curator = _signed_in(app, "thuthu")
    admin = _signed_in(app, "quantri")
    quantri, thuthu = _user_id(app, "quantri"), _user_id(app, "thuthu")
    assert _switch(curator, quantri, "disable", confirm="yes") == 422
    assert _switch(curator, thuthu, "disable", confirm="yes") == 422
    assert _switch(admin, quantri, "disable", confirm="yes") == 422
    assert admin.get("/admin/").status_code == 200  # still signed in
    with app.app_context():
        assert not any(db.session.execute(db.select(User.disabled)).scalars())
    # An administrator may disable a curator; the curator may not enable themself.
    assert _switch(admin, thuthu, "disable", confirm="yes") == 302
    assert curator.get("/admin/").status_code == 302  # signed out: to the sign-in page
    assert post_sign_in(app.test_client(), "thuthu", "mat-khau-thuthu").status_code == 200  # type: ignore[attr-defined]


def test_forged_posts_change_nothing(app: Flask, restricted_image: str) -> None:
    reader = _signed_in(app, "docgia")
    curator = _signed_in(app, "thuthu")
    docgia = _user_id(app, "docgia")
    token = csrf_token(reader.get("/").get_data(as_text=True))
    own = {"csrf_token": token, "confirm": "yes"}
    assert reader.post(f"/admin/people/{docgia}/disable", data=own).status_code == 403
    bare = curator.post(f"/admin/people/{docgia}/disable", data={"confirm": "yes"})
    assert bare.status_code == 400  # no CSRF token
    with app.app_context():
        assert not db.session.execute(db.select(User.disabled).filter_by(id=docgia)).scalar()


def test_the_command_line_disables_and_enables_through_the_same_rule(
    app: Flask, runner: FlaskCliRunner, images: Client, restricted_image: str
) -> None:
    reader = _signed_in(app, "docgia")
    cookie = _access_cookie(reader)
    assert "disabled docgia" in _run(runner, "disable-user", "docgia")
    assert _tile(images, restricted_image, cookie) == 401
    assert post_sign_in(app.test_client(), "docgia", "mat-khau-docgia").status_code == 200  # type: ignore[attr-defined]
    assert "already disabled" in _run(runner, "disable-user", "docgia")
    assert "enabled docgia" in _run(runner, "enable-user", "docgia")
    _signed_in(app, "docgia")
    missing = runner.invoke(args=["disable-user", "nobody"])
    assert missing.exit_code != 0 and "no user is called" in missing.output
    assert ("user-disabled", "cli", "docgia") in _actions(app)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with serve(Provider(CLIENT_ID, CLIENT_SECRET, CALLBACK)) as running:
        running.add(HOA)
        yield running


def test_single_sign_on_of_a_disabled_account_is_refused(
    app_config: dict[str, Any], provider: Provider
) -> None:
    sso_app = build(sso_config(app_config, provider.issuer))
    browser = english_client(sso_app)
    assert sso_sign_in(browser, provider, HOA).status_code == 302
    assert "accessToken" in browser.get("/auth/iiif/token").get_json()
    cli = sso_app.test_cli_runner()
    assert cli.invoke(args=["disable-user", "hoa.reader"]).exit_code == 0
    assert browser.get("/auth/iiif/token").get_json()["error"] == "missingCredentials"
    other = english_client(sso_app)
    refused = sso_sign_in(other, provider, HOA)
    assert refused.status_code == 302 and refused.location.startswith("/auth/login")
    page = other.get(refused.location).get_data(as_text=True)
    assert "This account is disabled" in page
    assert other.get_cookie("tangthu_access") is None
    assert other.get("/auth/iiif/token").get_json()["error"] == "missingCredentials"
    with sso_app.app_context():
        refusals = db.session.execute(
            db.select(AuditEvent).filter_by(action="login-refused")
        ).scalars()
        assert [(e.actor, e.detail) for e in refusals] == [("hoa.reader", "oidc: account disabled")]
        logins = db.session.execute(db.select(AuditEvent).filter_by(action="login")).scalars()
        assert len(list(logins)) == 1  # the first sign-in only
    assert cli.invoke(args=["enable-user", "hoa.reader"]).exit_code == 0
    assert sso_sign_in(english_client(sso_app), provider, HOA).status_code == 302


def test_the_migration_keeps_accounts_disabled_the_old_way_disabled(tmp_path: Path) -> None:
    """Before e8f4a2c6b0d1, disabling took the password away; such accounts stay out."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import MetaData, Table, text

    from repository import create_app

    app = create_app(
        {"INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "x", "TESTING": True}
    )
    with app.app_context():
        upgrade(revision="f2a7c9e1d3b5")
        with db.engine.begin() as connection:
            user = Table("user", MetaData(), autoload_with=connection)
            for name, password, subject in (
                ("old-disabled", "", None),
                ("with-password", "scrypt:x", None),
                ("sso", "", "https://sso.example|1"),
            ):
                connection.execute(
                    user.insert().values(
                        username=name,
                        password_hash=password,
                        role="reader",
                        sso_subject=subject,
                        created_at=datetime(2026, 1, 1),
                    )
                )
        upgrade()
        rows = dict(db.session.execute(text('SELECT username, disabled FROM "user"')).all())
        assert rows == {"old-disabled": 1, "with-password": 0, "sso": 0}
        disable = text('UPDATE "user" SET disabled = 1 WHERE username = :name')
        db.session.execute(disable, {"name": "with-password"})
        db.session.commit()
        db.session.remove()
        downgrade(revision="f2a7c9e1d3b5")  # without the column: kept out the old way
        rows = dict(db.session.execute(text('SELECT username, password_hash FROM "user"')).all())
        assert rows["with-password"] == "" and rows["sso"] == ""
