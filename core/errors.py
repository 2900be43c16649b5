"""Errors: domain errors that services raise, and the HTTP problem details (RFC 9457) handlers send.

Services speak the domain (`NotFound`, `Conflict`, `Invalid`, `BadQuery`); `handlers/base.py`
maps each to its HTTP status in one place. `ApiError` carries an HTTP status and belongs to
handlers only: HTTP stays at the edge.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any


class DomainError(Exception):
    """A rule of the domain refused the operation; the client can act on `detail` and `errors`."""

    def __init__(self, detail: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Conflict(DomainError):
    """The operation conflicts with the current state (stock, references, a unique value)."""


class Invalid(DomainError):
    """The input is well-formed but breaks a rule; `errors` says which field and why."""


class BadQuery(DomainError):
    """A query parameter is malformed or out of range."""


class ApiError(Exception):
    """An HTTP error raised by a handler (401, 403, 405, 429...); rendered as application/problem+json."""

    def __init__(self, status: int, detail: str, *, title: str | None = None,
                 errors: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.headers = headers or {}


def problem(status: int, detail: str, *, title: str | None = None,
            errors: dict[str, Any] | None = None, instance: str | None = None) -> dict[str, Any]:
    """The problem+json body."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if instance:
        body["instance"] = instance
    return body


def not_found(what: str, ident: object) -> NotFound:
    """`Product 7 does not exist.`"""
    return NotFound(f"{what} {ident} does not exist.")


def conflict(detail: str, errors: dict[str, Any] | None = None) -> Conflict:
    return Conflict(detail, errors)


def invalid(errors: dict[str, Any], detail: str = "The request body failed validation.") -> Invalid:
    return Invalid(detail, errors)


def bad_query(errors: dict[str, Any]) -> BadQuery:
    names = ", ".join(sorted(errors))
    return BadQuery(f"Invalid query parameter: {names}.", errors)
