"""Search: Vietnamese without diacritics, phrases, hostile queries, access, reindex."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from repository.search import Query, fold, parse_query
from repository.search.sqlite_fts import match_expression


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Nguyễn Đình Chiểu", "nguyen dinh chieu"),
        ("Đại Việt sử ký", "dai viet su ky"),
        ("ĐẠI VIỆT", "dai viet"),
        ("Tự Đức năm thứ 3", "tu duc nam thu 3"),
        ("斷腸新聲", "斷腸新聲"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_queries_become_quoted_terms_only() -> None:
    assert parse_query('Đại "Việt sử" ký') == Query(("dai", "ky"), (("viet", "su"),))
    assert (
        match_expression(parse_query('a NEAR(b) -c "d e'))
        == '"a" AND "near" AND "b" AND "c" AND "d" AND "e"'
    )
    assert parse_query("").empty and parse_query('"" * - ( )').empty


@pytest.fixture
def catalogue(app: Flask, runner: FlaskCliRunner, make_pages) -> dict[str, str]:
    """Two published items and one draft, described by title and creator."""
    from repository.extensions import db
    from repository.models import Item

    ids = {}
    books = [
        ("Văn tế nghĩa sĩ Cần Giuộc", "Nguyễn Đình Chiểu", True),
        ("Đại Việt sử ký toàn thư", "Ngô Sĩ Liên", True),
        ("Sổ bộ mật", "Khuyết danh", False),
    ]
    for number, (title, creator, publish) in enumerate(books):
        folder = make_pages(count=1, name=f"b{number}", width=300 + number * 7)
        args = ["ingest", str(folder), "--collection", "c", "--title", title]
        assert runner.invoke(args=[*args, "--publish"] if publish else args).exit_code == 0
        with app.app_context():
            item = (
                db.session.execute(db.select(Item).order_by(Item.created_at.desc()))
                .scalars()
                .first()
            )
            item.dc = {"creator": [{"value": creator, "lang": "vi"}]}
            db.session.commit()
            ids[title] = item.id
    assert runner.invoke(args=["reindex"]).exit_code == 0
    return ids


def hits(client: FlaskClient, query: str) -> str:
    response = client.get("/search", query_string={"q": query})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_diacritics_are_optional(client: FlaskClient, catalogue: dict[str, str]) -> None:
    assert catalogue["Văn tế nghĩa sĩ Cần Giuộc"] in hits(client, "nguyen dinh chieu")
    assert catalogue["Đại Việt sử ký toàn thư"] in hits(client, "Dai Viet")
    assert catalogue["Đại Việt sử ký toàn thư"] in hits(client, "ĐẠI VIỆT")
    assert "<mark>" in hits(client, "dai viet")


def test_exact_phrases(client: FlaskClient, catalogue: dict[str, str]) -> None:
    assert catalogue["Đại Việt sử ký toàn thư"] in hits(client, '"viet su ky"')
    assert catalogue["Đại Việt sử ký toàn thư"] not in hits(client, '"su viet"')


def test_unpublished_items_never_appear(client: FlaskClient, catalogue: dict[str, str]) -> None:
    assert catalogue["Sổ bộ mật"] not in hits(client, "so bo mat")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "x" * 10_000,
        '"',
        '"unbalanced',
        "NEAR(a b)",
        "a* OR -b",
        "'; DROP TABLE item; --",
        "title:x",
        "^a",
        "(((",
        "\x00",
    ],
)
def test_hostile_queries_never_fail(
    client: FlaskClient, catalogue: dict[str, str], query: str
) -> None:
    response = client.get("/search", query_string={"q": query})
    assert response.status_code == 200
    assert "Traceback" not in response.get_data(as_text=True)
