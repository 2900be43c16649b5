"""Problem details (RFC 9457): the one shape every error response takes."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ApiError(Exception):
    """An error the client can act on; rendered as application/problem+json."""

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


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, f"{what} {ident} does not exist.")


def conflict(detail: str, errors: dict[str, Any] | None = None) -> ApiError:
    return ApiError(409, detail, errors=errors)


def invalid(errors: dict[str, Any], detail: str = "The request body failed validation.") -> ApiError:
    return ApiError(422, detail, errors=errors)


def bad_query(errors: dict[str, Any]) -> ApiError:
    names = ", ".join(sorted(errors))
    return ApiError(400, f"Invalid query parameter: {names}.", errors=errors)
