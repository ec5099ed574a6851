"""Errors that carry their HTTP meaning, rendered by one handler in views."""

from __future__ import annotations


class IIIFError(Exception):
    """A refusal with a status code, the offending parameter and a plain reason."""

    status = 500

    def __init__(self, text: str, parameter: str = "", status: int | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.parameter = parameter
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        where = f" ({self.parameter})" if self.parameter else ""
        return f"{self.text}{where}"


class BadRequest(IIIFError):
    status = 400


class Unauthorized(IIIFError):
    status = 401


class NotFound(IIIFError):
    status = 404


class NotImplementedFeature(IIIFError):
    status = 501


class Overloaded(IIIFError):
    """Too many expensive requests at once; the client should retry shortly."""

    status = 503

    def __init__(self, text: str, retry_after: int) -> None:
        super().__init__(text)
        self.retry_after = retry_after
