"""One family of service errors: each carries its HTTP status and its reasons.

Services raise these and nothing else for a refusal a person can act on. One handler
(``repository/errors.py``) renders them as a page, plain text or JSON, and the command
group (``repository/cli``) prints them as ``Error:`` lines, as ``image_server/errors.py``
does for the IIIF Image API. A view catches one only to show it next to a form field.

- ``message``: one line for people, the headline;
- ``reasons``: one line per problem (every file refused, every bad row);
- ``fields``: the reasons that belong to a form field, by the field's name;
- ``code``: a short machine word where a protocol has one (OAI-PMH: ``badArgument``).

Messages are in English where they reach the command line and logs; the ones a web page
shows are translated where they are made (flask_babel) or by the view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar


class ServiceError(Exception):
    """A refusal with its HTTP status, a headline and the reasons behind it."""

    status: ClassVar[int] = 400

    def __init__(
        self,
        message: str = "",
        reasons: Iterable[str] = (),
        *,
        fields: Mapping[str, str] | None = None,
        code: str = "",
    ) -> None:
        self.fields: dict[str, str] = dict(fields or {})
        self.reasons: tuple[str, ...] = (
            tuple(reasons) or tuple(self.fields.values()) or ((message,) if message else ())
        )
        self.message = message or "; ".join(self.reasons)
        self.code = code
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def lines(self, limit: int = 50) -> list[str]:
        """The headline, then each reason it does not already say (at most ``limit``)."""
        if self.message == "; ".join(self.reasons):
            return [self.message]
        shown = [f"  {reason}" for reason in self.reasons[:limit]]
        if len(self.reasons) > limit:
            shown.append(f"  ... and {len(self.reasons) - limit} more")
        return [self.message, *shown]


class NotFound(ServiceError):
    """Nothing is there (or nothing this viewer may know of)."""

    status = 404


class Refused(ServiceError):
    """What was asked for or sent cannot be accepted; the reasons say why."""

    status = 422


class TooLarge(ServiceError):
    """Past a limit: too many bytes, pixels, pages or records."""

    status = 413


class Conflict(ServiceError):
    """The state of things forbids it now (a collection that still holds items)."""

    status = 409


class Unavailable(ServiceError):
    """Something we depend on did not answer, or not well; trying later may work."""

    status = 503

    def __init__(
        self,
        message: str = "",
        reasons: Iterable[str] = (),
        *,
        code: str = "",
        retry_after: int = 60,
    ) -> None:
        super().__init__(message, reasons, code=code)
        self.retry_after = retry_after
