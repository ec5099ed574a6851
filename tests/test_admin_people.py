"""Accounts and reader groups in the admin: the CLI's services and refusals, on the web.

Real sign-ins, real forms with their CSRF tokens, real SQLite."""

from __future__ import annotations

import html as html_text
import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import AuditEvent, Item, ReaderGroup, User
from tests.helpers import csrf_token, post_sign_in, sign_in

EN = {"Accept-Language": "en"}
VI = {"Accept-Language": "vi"}


@dataclass(frozen=True)
class Library:
    group: int  # han-nom: the collection "kho" (one restricted item) allows it
    reader: int  # docgia, in han-nom
    curator: int
    admin: int


def _run(runner: FlaskCliRunner, *args: str) -> None:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output


@pytest.fixture
def library(runner: FlaskCliRunner, app: Flask, make_pages) -> Library:  # type: ignore[no-untyped-def]
    folder = make_pages(count=1, width=300, height=200)
    _run(runner, "ingest", str(folder), "--collection", "kho", "--title", "Châu bản", "--publish")
    with app.app_context():
        item_id = db.session.execute(db.select(Item.id)).scalar_one()
    _run(runner, "access", item_id, "restricted")
    _run(runner, "group", "add", "han-nom", "--label-vi", "Nhóm Hán Nôm", "--label-en", "Hán-Nôm")
    _run(runner, "group", "collection", "han-nom", "kho")
    for role, name in (("--reader", "docgia"), ("--curator", "thuthu"), ("--admin", "quantri")):
        _run(runner, "create-user", role, name, "--password", f"mat-khau-{name}")
    _run(runner, "group", "member", "han-nom", "docgia")
    with app.app_context():
        ids = {u.username: u.id for u in db.session.execute(db.select(User)).scalars()}
        group = db.session.execute(db.select(ReaderGroup.id)).scalar_one()
    return Library(group, ids["docgia"], ids["thuthu"], ids["quantri"])


def _client(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, name, f"mat-khau-{name}")
    return client


def _post(client: FlaskClient, page: str, url: str, lang: dict[str, str] = EN, **fields: object):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get(page, headers=lang).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **fields}, headers=lang)


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html_text.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def _user(app: Flask, name: str) -> User | None:
    with app.app_context():
        found = db.session.execute(
            db.select(User).filter_by(username=name).execution_options(populate_existing=True)
        ).scalar()
        if found is not None:
            found.groups  # noqa: B018  (loaded before the session ends)
            db.session.expunge(found)
        return found


def _audit(app: Flask, action: str) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(db.select(AuditEvent).filter_by(action=action)).scalars()
        return [(r.actor, r.target, r.detail) for r in rows]


def test_a_curator_lists_searches_and_creates_readers(app: Flask, library: Library) -> None:
    curator = _client(app, "thuthu")
    page = _text(curator.get("/admin/people?q=docg", headers=EN))
    assert "docgia" in page and "quantri" not in page and "han-nom" in page
    response = _post(
        curator,
        "/admin/people",
        "/admin/people",
        username="ban.doc@thuvien.vn",
        password="mot-mat-khau-dai",
        role="reader",
    )
    assert response.status_code == 302
    created = _user(app, "ban.doc@thuvien.vn")
    assert created is not None and created.role == "reader"
    assert ("thuthu", "ban.doc@thuvien.vn", "role reader") in _audit(app, "user-created")
    sign_in(app.test_client(), "ban.doc@thuvien.vn", "mot-mat-khau-dai")


def test_the_clis_refusals_hold_on_the_web(app: Flask, library: Library) -> None:
    admin = _client(app, "quantri")
    for fields, message in (
        ({"username": "docgia", "password": "mot-mat-khau-dai"}, "is taken"),
        ({"username": "ab", "password": "mot-mat-khau-dai"}, "Field must be between 3"),
        ({"username": "a b c", "password": "mot-mat-khau-dai"}, "usernames are 3–80"),
        ({"username": "ngan", "password": "ngan"}, "at least 10 characters"),
    ):
        response = _post(admin, "/admin/people", "/admin/people", role="reader", **fields)
        assert response.status_code in (409, 422), fields
        assert message in _text(response), fields
    assert _user(app, "ngan") is None and _user(app, "a b c") is None
    response = _post(admin, "/admin/groups", "/admin/groups", name="Không Hợp Lệ")
    assert response.status_code == 422
    assert "lowercase letters, digits and -" in _text(response)
    response = _post(admin, "/admin/groups", "/admin/groups", name="han-nom")
    assert response.status_code == 409 and "exists already" in _text(response)
    vi = _post(admin, "/admin/groups", "/admin/groups", VI, name="han-nom")
    assert vi.status_code == 409 and "đã có" in _text(vi)


def test_a_curator_cannot_make_anyone_staff_not_even_themself(app: Flask, library: Library) -> None:
    curator = _client(app, "thuthu")
    response = _post(
        curator,
        "/admin/people",
        "/admin/people",
        username="ke-gian",
        password="mot-mat-khau-dai",
        role="admin",
    )
    assert response.status_code == 422
    assert "Only an administrator may make someone" in _text(response)
    assert _user(app, "ke-gian") is None
    for target, role in (
        (library.reader, "admin"),
        (library.reader, "curator"),
        (library.curator, "admin"),  # themself
        (library.admin, "reader"),  # demoting an administrator
    ):
        page = f"/admin/people/{target}"
        response = _post(curator, page, f"{page}/role", role=role)
        assert response.status_code == 422, (target, role)
    assert _user(app, "docgia").role == "reader"  # type: ignore[union-attr]
    assert _user(app, "thuthu").role == "curator"  # type: ignore[union-attr]
    assert _user(app, "quantri").role == "admin"  # type: ignore[union-attr]
    page = f"/admin/people/{library.admin}"
    response = _post(curator, page, f"{page}/disable", confirm="yes")
    assert response.status_code == 422
    assert "Only an administrator may change" in _text(response)
    assert not _user(app, "quantri").disabled  # type: ignore[union-attr]
    # Nor change an administrator's groups (which would end the administrator's sessions).
    response = _post(curator, page, f"{page}/groups", group=library.group)
    assert response.status_code == 422
    assert _user(app, "quantri").groups == []  # type: ignore[union-attr]
    assert _audit(app, "role-changed") == []


def test_an_administrator_makes_a_curator_and_the_old_sessions_end(
    app: Flask, library: Library
) -> None:
    reader = _client(app, "docgia")
    admin = _client(app, "quantri")
    page = f"/admin/people/{library.reader}"
    assert _post(admin, page, f"{page}/role", role="curator").status_code == 302
    assert _user(app, "docgia").role == "curator"  # type: ignore[union-attr]
    assert ("quantri", "docgia", "reader -> curator") in _audit(app, "role-changed")
    assert reader.get("/admin/").status_code == 302  # signed out: must sign in again
    assert _post(admin, page, f"{page}/role", role="nobody").status_code == 422


def test_group_membership_is_added_and_removed_with_the_clis_effects(
    app: Flask, library: Library, runner: FlaskCliRunner
) -> None:
    _run(runner, "group", "add", "khach")
    _run(runner, "create-user", "--reader", "tomo", "--password", "mat-khau-tomo")
    tomo = _client(app, "tomo")
    curator = _client(app, "thuthu")
    target = _user(app, "tomo")
    assert target is not None
    page = f"/admin/people/{target.id}"
    response = _post(curator, page, f"{page}/groups", VI, group=library.group)
    assert response.status_code == 302
    assert [g.name for g in _user(app, "tomo").groups] == ["han-nom"]  # type: ignore[union-attr]
    assert ("thuthu", "tomo", "han-nom") in _audit(app, "group-member-added")
    assert tomo.get("/admin/", follow_redirects=False).status_code in (302, 403)
    assert "Nhóm Hán Nôm" in _text(curator.get(page, headers=VI))
    # A group that is not offered (the user is in it) is refused as the form's choice.
    assert _post(curator, page, f"{page}/groups", group=library.group).status_code == 422
    response = _post(curator, page, f"{page}/groups/{library.group}/leave")
    assert response.status_code == 302
    assert _user(app, "tomo").groups == []  # type: ignore[union-attr]
    assert ("thuthu", "tomo", "han-nom") in _audit(app, "group-member-removed")


def test_a_disabled_account_cannot_sign_in(app: Flask, library: Library) -> None:
    curator = _client(app, "thuthu")
    page = f"/admin/people/{library.reader}"
    assert _post(curator, page, f"{page}/disable", confirm="yes").status_code == 302
    assert post_sign_in(app.test_client(), "docgia", "mat-khau-docgia").status_code != 302  # type: ignore[attr-defined]
    assert "Disabled" in _text(curator.get("/admin/people", headers=EN))
    assert ("thuthu", "docgia", "") in _audit(app, "user-disabled")
    assert _user(app, "docgia").password_hash  # type: ignore[union-attr]  # kept for enabling
    mine = f"/admin/people/{library.curator}"
    assert _post(curator, mine, f"{mine}/disable", confirm="yes").status_code == 422
    assert _post(curator, page, f"{page}/enable", confirm="yes").status_code == 302
    assert ("thuthu", "docgia", "") in _audit(app, "user-enabled")
    sign_in(app.test_client(), "docgia", "mat-khau-docgia")


def test_a_single_sign_on_account_can_be_disabled(app: Flask, library: Library) -> None:
    with app.app_context():
        user = User(username="sso.reader", sso_subject="https://sso.example|42")
        db.session.add(user)
        db.session.commit()
        user_id = user.id
    curator = _client(app, "thuthu")
    page = f"/admin/people/{user_id}"
    assert "Active" in _text(curator.get(page, headers=EN))
    assert _post(curator, page, f"{page}/disable", confirm="yes").status_code == 302
    assert _user(app, "sso.reader").disabled  # type: ignore[union-attr]
    vi = _text(curator.get(page, headers=VI))
    assert "Kích hoạt lại tài khoản" in vi and "Đã vô hiệu hoá" in vi


def test_groups_are_renamed_and_deleted_after_a_confirmation_that_counts(
    app: Flask, library: Library
) -> None:
    admin = _client(app, "quantri")
    edit = f"/admin/groups/{library.group}"
    response = _post(admin, edit, edit, name="han-nom-2", label_vi="Hán Nôm", label_en="Han Nom")
    assert response.status_code == 302
    assert ("quantri", "han-nom-2", "was han-nom") in _audit(app, "group-renamed")
    delete = f"{edit}/delete"
    question = _text(admin.get(delete, headers=EN))
    assert "1 reader is in this group. It opens 1 collection with 1 item." in question
    vi = _text(admin.get(delete, headers=VI))
    assert "1 bạn đọc" in vi
    # Without the confirmation, nothing is deleted.
    assert _post(admin, delete, delete).status_code == 200
    with app.app_context():
        assert db.session.get(ReaderGroup, library.group) is not None
    assert _post(admin, delete, delete, confirm="yes").status_code == 302
    with app.app_context():
        assert db.session.get(ReaderGroup, library.group) is None
    assert _user(app, "docgia").groups == []  # type: ignore[union-attr]
    assert ("quantri", "han-nom-2", "1 users, 1 collections, 1 items") in _audit(
        app, "group-deleted"
    )


def test_readers_and_visitors_are_refused(app: Flask, library: Library) -> None:
    reader = _client(app, "docgia")
    anonymous = app.test_client()
    for url in ("/admin/people", f"/admin/people/{library.admin}", "/admin/groups"):
        assert reader.get(url).status_code == 403
        assert anonymous.get(url).status_code == 302  # to the sign-in page
    token = csrf_token(reader.get("/").get_data(as_text=True))
    page = f"/admin/people/{library.reader}/role"
    assert reader.post(page, data={"csrf_token": token, "role": "admin"}).status_code == 403
    assert _user(app, "docgia").role == "reader"  # type: ignore[union-attr]


def test_forms_without_their_csrf_token_are_refused(app: Flask, library: Library) -> None:
    admin = _client(app, "quantri")
    page = f"/admin/people/{library.reader}"
    for url, fields in (
        ("/admin/people", {"username": "khong-token", "password": "mot-mat-khau-dai"}),
        (f"{page}/role", {"role": "admin"}),
        (f"{page}/groups", {"group": library.group}),
        (f"{page}/groups/{library.group}/leave", {}),
        (f"{page}/disable", {"confirm": "yes"}),
        (f"{page}/enable", {"confirm": "yes"}),
        ("/admin/groups", {"name": "khong-token"}),
        (f"/admin/groups/{library.group}/delete", {"confirm": "yes"}),
    ):
        assert admin.post(url, data=fields).status_code == 400, url
    assert _user(app, "khong-token") is None
    assert _user(app, "docgia").role == "reader"  # type: ignore[union-attr]
    with app.app_context():
        assert db.session.get(ReaderGroup, library.group) is not None


def test_the_list_is_paged_and_unknown_accounts_are_not_found(app: Flask, library: Library) -> None:
    with app.app_context():  # rows as another system would have made them: no hashing
        for number in range(60):
            db.session.add(User(username=f"ban-doc-{number:03d}", password_hash="x"))
        db.session.commit()
    curator = _client(app, "thuthu")
    first = _text(curator.get("/admin/people?q=ban-doc-", headers=EN))
    assert "ban-doc-049" in first and "ban-doc-050" not in first
    assert "Page 1 of 2" in first
    second = _text(curator.get("/admin/people?q=ban-doc-&page=2", headers=EN))
    assert "ban-doc-050" in second and "ban-doc-059" in second and "ban-doc-049" not in second
    # A search is text, not a pattern: % and _ match only themselves.
    assert "ban-doc-000" not in _text(curator.get("/admin/people?q=%25", headers=EN))
    response = curator.get("/admin/people/99999", headers=EN)
    assert response.status_code == 404 and "Traceback" not in _text(response)
    assert curator.get("/admin/groups/99999").status_code == 404
