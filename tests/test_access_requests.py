"""Readers ask to read a restricted item; curators grant or refuse in the admin, and each
step is in the audit log. Real sign-ins, real forms with their CSRF tokens, real SQLite."""

from __future__ import annotations

import html as html_text
import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.extensions import db
from repository.models import AccessRequest, AuditEvent, Item, ReaderGroup, User
from tests.helpers import csrf_token, sign_in

EN = {"Accept-Language": "en"}
VI = {"Accept-Language": "vi"}
SECRET = "Tôi nghiên cứu châu bản triều Nguyễn cho luận án, mã số NCS-4471."


@dataclass(frozen=True)
class Library:
    item: str  # a restricted item of the collection "kho", read by the group "han-nom"
    group: int  # the id of han-nom
    other_group: int  # a group that the collection does not allow


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
    _run(
        runner,
        "group",
        "add",
        "han-nom",
        "--label-vi",
        "Nhóm Hán Nôm",
        "--label-en",
        "Hán-Nôm researchers",
    )
    _run(runner, "group", "add", "khach", "--label-vi", "Khách", "--label-en", "Guests")
    _run(runner, "group", "collection", "han-nom", "kho")
    for role, name in (
        ("--reader", "docgia"),
        ("--reader", "tomo"),
        ("--curator", "thuthu"),
        ("--admin", "quantri"),
    ):
        _run(runner, "create-user", role, name, "--password", f"mat-khau-{name}")
    with app.app_context():
        groups = {g.name: g.id for g in db.session.execute(db.select(ReaderGroup)).scalars()}
    return Library(item_id, groups["han-nom"], groups["khach"])


def _client(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, name, f"mat-khau-{name}")
    return client


def _ask(client: FlaskClient, item: str, message: str, headers: dict[str, str] = EN):  # type: ignore[no-untyped-def]
    form = client.get(f"/items/{item}/request-access", headers=headers).get_data(as_text=True)
    return client.post(
        f"/items/{item}/request-access",
        data={"message": message, "csrf_token": csrf_token(form)},
        headers=headers,
    )


def _decide(client: FlaskClient, request_id: int, verb: str, **fields: object):  # type: ignore[no-untyped-def]
    page = client.get("/admin/requests", headers=EN).get_data(as_text=True)
    return client.post(
        f"/admin/requests/{request_id}/{verb}",
        data={"csrf_token": csrf_token(page), **fields},
        headers=EN,
    )


def _requests(app: Flask) -> list[tuple[str, str, str, str, str]]:
    with app.app_context():
        rows = db.session.execute(db.select(AccessRequest).order_by(AccessRequest.id)).scalars()
        return [(r.user.username, r.item_id, r.status, r.decided_by, r.message) for r in rows]


def _audit(app: Flask, action: str) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(db.select(AuditEvent).filter_by(action=action)).scalars()
        return [(e.actor, e.target, e.detail) for e in rows]


def _text(page: str) -> str:
    return html_text.unescape(re.sub(r"<[^>]+>", " ", page))


def test_an_anonymous_reader_is_sent_to_sign_in_first(
    client: FlaskClient, library: Library
) -> None:
    response = client.get(f"/items/{library.item}/request-access")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"/auth/login?next=/items/{library.item}/request-access"
    )
    page = _text(client.get(f"/items/{library.item}", headers=EN).get_data(as_text=True))
    assert "Members of Hán-Nôm researchers may read this item." in page
    assert "Request access" not in page  # asking comes after signing in


def test_a_reader_asks_a_curator_grants_and_the_reader_reads(app: Flask, library: Library) -> None:
    reader = _client(app, "docgia")
    item_page = f"/items/{library.item}"
    page = reader.get(item_page, headers=EN).get_data(as_text=True)
    assert "Members of Hán-Nôm researchers may read this item." in _text(page)
    assert f'href="{item_page}/request-access"' in page
    response = _ask(reader, library.item, SECRET)
    assert response.status_code == 302 and response.headers["Location"] == item_page
    assert _requests(app) == [("docgia", library.item, "pending", "", SECRET)]
    assert _audit(app, "access-requested")[0][:2] == ("docgia", library.item)
    # The reader sees the request's state, and the link to ask has gone.
    page = reader.get(item_page, headers=VI).get_data(as_text=True)
    assert "chưa trả lời" in _text(page) and "Đang chờ" in _text(page)
    assert f'href="{item_page}/request-access"' not in page
    # A second request shows the pending one instead of making another.
    second = _ask(reader, library.item, "lần nữa")
    assert second.status_code == 409
    assert "pending" in _text(second.get_data(as_text=True))
    assert len(_requests(app)) == 1
    # The curator sees it, with its message, and grants it into the collection's group.
    curator = _client(app, "thuthu")
    listing = curator.get("/admin/requests", headers=EN).get_data(as_text=True)
    assert SECRET in html_text.unescape(listing) and "docgia" in listing
    assert f'<option value="{library.group}">Hán-Nôm researchers</option>' in listing
    assert f'value="{library.other_group}"' not in listing  # only the groups that may read it
    with app.app_context():
        request_id = db.session.execute(db.select(AccessRequest.id)).scalar_one()
    response = _decide(curator, request_id, "grant", group=library.group)
    assert response.status_code == 302
    assert _requests(app)[0][2:4] == ("granted", "thuthu")
    with app.app_context():
        decided = db.session.get(AccessRequest, request_id)
        assert decided is not None and decided.decided_at is not None
        user = db.session.execute(db.select(User).filter_by(username="docgia")).scalar_one()
        assert [g.name for g in user.groups] == ["han-nom"]
    assert _audit(app, "access-granted") == [
        ("thuthu", f"docgia {library.item}", f"request {request_id}; group han-nom")
    ]
    # The change of groups ended the reader's session; signed in again, they read it.
    assert "access-banner" in reader.get(item_page).get_data(as_text=True)
    sign_in(reader, "docgia", "mat-khau-docgia")
    page = reader.get(item_page, headers=EN).get_data(as_text=True)
    assert "access-banner" not in page and "data-manifest=" in page
    assert "Your access requests" in page and "Granted" in page
    # The administrator finds both steps in the audit log.
    audit = _client(app, "quantri").get("/admin/audit").get_data(as_text=True)
    assert "access-requested" in audit and "access-granted" in audit


def test_a_curator_refuses_and_the_reader_may_ask_again(app: Flask, library: Library) -> None:
    reader = _client(app, "docgia")
    assert _ask(reader, library.item, "").status_code == 302
    with app.app_context():
        request_id = db.session.execute(db.select(AccessRequest.id)).scalar_one()
    curator = _client(app, "thuthu")
    assert _decide(curator, request_id, "refuse").status_code == 302
    assert _requests(app)[0][2:4] == ("refused", "thuthu")
    assert _audit(app, "access-refused") == [
        ("thuthu", f"docgia {library.item}", f"request {request_id}")
    ]
    # Deciding it again, either way, is refused: it was decided once.
    assert _decide(curator, request_id, "grant", group=library.group).status_code == 409
    assert _decide(curator, request_id, "refuse").status_code == 409
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(username="docgia")).scalar_one()
        assert user.groups == []
    page = reader.get(f"/items/{library.item}", headers=EN).get_data(as_text=True)
    assert "Refused" in _text(page)
    assert f'href="/items/{library.item}/request-access"' in page  # they may ask again


def test_a_reader_sees_no_one_elses_request_and_cannot_decide(app: Flask, library: Library) -> None:
    assert _ask(_client(app, "docgia"), library.item, SECRET).status_code == 302
    with app.app_context():
        request_id = db.session.execute(db.select(AccessRequest.id)).scalar_one()
    other = _client(app, "tomo")
    for path in (f"/items/{library.item}", f"/items/{library.item}/request-access"):
        page = html_text.unescape(other.get(path, headers=EN).get_data(as_text=True))
        assert SECRET not in page and "docgia" not in page and "pending" not in page
    assert other.get("/admin/requests").status_code == 403
    token = csrf_token(other.get(f"/items/{library.item}").get_data(as_text=True))
    for verb in ("grant", "refuse"):
        response = other.post(
            f"/admin/requests/{request_id}/{verb}",
            data={"csrf_token": token, "group": library.group},
        )
        assert response.status_code == 403
    assert _requests(app)[0][2] == "pending"
    with app.app_context():
        assert all(not u.groups for u in db.session.execute(db.select(User)).scalars())


def test_forms_without_their_csrf_token_are_refused(app: Flask, library: Library) -> None:
    reader = _client(app, "docgia")
    response = reader.post(f"/items/{library.item}/request-access", data={"message": "x"})
    assert response.status_code == 400
    assert _requests(app) == []
    assert _ask(reader, library.item, "").status_code == 302
    with app.app_context():
        request_id = db.session.execute(db.select(AccessRequest.id)).scalar_one()
    curator = _client(app, "thuthu")
    response = curator.post(f"/admin/requests/{request_id}/grant", data={"group": library.group})
    assert response.status_code == 400
    assert curator.post(f"/admin/requests/{request_id}/refuse").status_code == 400
    assert _requests(app)[0][2] == "pending"


@pytest.mark.parametrize(
    ("headers", "message"),
    [(EN, "at most 1000 characters"), (VI, "tối đa 1000 ký tự")],
)
def test_an_over_long_message_is_refused_in_the_readers_language(
    app: Flask, library: Library, headers: dict[str, str], message: str
) -> None:
    reader = _client(app, "docgia")
    response = _ask(reader, library.item, "x" * 1001, headers)
    assert response.status_code == 422
    assert message in _text(response.get_data(as_text=True))
    assert _requests(app) == []
    assert _ask(reader, library.item, "x" * 1000, headers).status_code == 302


def test_a_grant_names_one_of_the_collections_groups(app: Flask, library: Library) -> None:
    assert _ask(_client(app, "docgia"), library.item, "").status_code == 302
    with app.app_context():
        request_id = db.session.execute(db.select(AccessRequest.id)).scalar_one()
    curator = _client(app, "thuthu")
    for group in (library.other_group, "", "9" * 40, "1 OR 1=1"):
        response = _decide(curator, request_id, "grant", group=group)
        assert response.status_code == 422, group
        assert "reader groups that may read this item" in _text(response.get_data(as_text=True))
    assert _decide(curator, 999_999, "refuse").status_code == 404
    assert _requests(app)[0][2] == "pending"
    with app.app_context():
        assert all(not u.groups for u in db.session.execute(db.select(User)).scalars())


def test_a_reader_who_may_read_already_or_cannot_be_let_in_is_not_asked(
    app: Flask, runner: FlaskCliRunner, library: Library
) -> None:
    reader = _client(app, "docgia")
    _run(runner, "group", "member", "han-nom", "docgia")
    sign_in(reader, "docgia", "mat-khau-docgia")  # the change of groups ended the session
    response = reader.get(f"/items/{library.item}/request-access")
    assert response.status_code == 302 and response.headers["Location"] == f"/items/{library.item}"
    _run(runner, "access", library.item, "onsite")  # only the reading room opens it now
    other = _client(app, "tomo")
    page = _text(other.get(f"/items/{library.item}", headers=EN).get_data(as_text=True))
    assert "reading room" in page and "Request access" not in page
    response = _ask(other, library.item, "xin")
    assert response.status_code == 409
    assert _requests(app) == []


def test_the_database_keeps_one_pending_request_per_reader_and_item(
    app: Flask, library: Library
) -> None:
    """Two requests that race past the check still cannot both be pending."""
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        reader = db.session.execute(db.select(User).filter_by(username="docgia")).scalar_one()
        db.session.add(AccessRequest(user_id=reader.id, item_id=library.item))
        db.session.commit()
        db.session.add(AccessRequest(user_id=reader.id, item_id=library.item))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        # Decided requests stay beside a new pending one.
        first = db.session.execute(db.select(AccessRequest)).scalar_one()
        first.status = "refused"
        db.session.add(AccessRequest(user_id=reader.id, item_id=library.item))
        db.session.commit()
        assert db.session.execute(db.select(db.func.count(AccessRequest.id))).scalar_one() == 2
