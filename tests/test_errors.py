"""One family of service errors, rendered by one handler: a page, plain text, JSON or a
command-line message, each with the error's own status and every reason."""

from __future__ import annotations

import click
import pytest
from flask import Flask
from flask.testing import FlaskClient

from repository.cli import plain_refusals
from repository.services.errors import (
    Conflict,
    NotFound,
    Refused,
    ServiceError,
    TooLarge,
    Unavailable,
)

ERRORS: dict[str, ServiceError] = {
    "missing": NotFound("no item has this id"),
    "refused": Refused("2 bad rows; nothing was imported", ["row 2: no title", "row 3: no year"]),
    "large": TooLarge("items over 600 pages have no PDF download"),
    "busy": Conflict(reasons=["It holds 3 items."]),
    "away": Unavailable("the search index did not answer", retry_after=30),
}


@pytest.fixture
def refusing(app: Flask) -> FlaskClient:
    def refuse(kind: str) -> str:
        raise ERRORS[kind]

    app.add_url_rule("/refuse/<kind>", view_func=refuse)
    app.add_url_rule("/iiif/refuse/<kind>", "iiif_refuse", view_func=refuse)
    return app.test_client()


@pytest.mark.parametrize(
    ("kind", "status"),
    [("missing", 404), ("refused", 422), ("large", 413), ("busy", 409), ("away", 503)],
)
def test_each_error_keeps_its_status_as_a_page_text_and_json(
    refusing: FlaskClient, kind: str, status: int
) -> None:
    error = ERRORS[kind]
    page = refusing.get(f"/refuse/{kind}")
    assert page.status_code == status and page.mimetype == "text/html"
    assert error.message in page.get_data(as_text=True)
    text = refusing.get(f"/iiif/refuse/{kind}")
    assert text.status_code == status and text.mimetype == "text/plain"
    assert text.get_data(as_text=True).splitlines()[0] == error.message
    answer = refusing.get(f"/refuse/{kind}", headers={"Accept": "application/json"})
    assert answer.status_code == status
    assert answer.get_json()["message"] == error.message
    assert answer.get_json()["reasons"] == list(error.reasons)


def test_every_reason_is_shown_and_retry_after_is_sent(refusing: FlaskClient) -> None:
    page = refusing.get("/refuse/refused").get_data(as_text=True)
    assert "row 2: no title" in page and "row 3: no year" in page
    assert refusing.get("/refuse/away").headers["Retry-After"] == "30"


def test_a_command_prints_the_refusal_and_its_reasons(app: Flask) -> None:
    @click.command("refuse")
    def refuse() -> None:
        raise ERRORS["refused"]

    result = app.test_cli_runner().invoke(plain_refusals(refuse))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: 2 bad rows; nothing was imported",
        "  row 2: no title",
        "  row 3: no year",
    ]


@pytest.mark.pure
def test_reasons_and_fields_are_one_shape() -> None:
    on_a_field = Refused(fields={"year_end": "The last year comes before the first."})
    assert on_a_field.reasons == ("The last year comes before the first.",)
    assert str(on_a_field) == "The last year comes before the first."
    alone = Refused("there are no page images to ingest")
    assert alone.reasons == ("there are no page images to ingest",)
    assert alone.lines() == ["there are no page images to ingest"]
