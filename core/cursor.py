"""Opaque list cursors: a position in a list, signed so a client can neither forge nor reuse one.

A cursor is `base64url(json([sort value, id, direction])) . base64url(mac)`, where the MAC
(HMAC-SHA256 with a key derived from the JWT secret, cut to 16 bytes) covers the position and
the list's scope: its path, sort and filters. So a cursor tampered with, or carried to another
list, sort or filter, fails verification and the request is a 400.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from functools import lru_cache
from typing import Any

from core.errors import bad_query

MAC_BYTES = 16
MAX_CURSOR = 1024  # longer than any cursor this server makes


class CursorCodec:
    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"factory-management list cursor v1", hashlib.sha256).digest()

    def _mac(self, scope: str, payload: bytes) -> bytes:
        return hmac.new(self._key, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:MAC_BYTES]

    def encode(self, scope: str, value: Any, row_id: int, forward: bool) -> str:
        payload = json.dumps([value, row_id, "n" if forward else "p"], separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(scope, payload))}"

    def decode(self, scope: str, token: str) -> tuple[Any, int, bool]:
        """(sort value, id, forward) from a cursor made for `scope`; a 400 for anything else."""
        try:
            if len(token) > MAX_CURSOR:
                raise ValueError("too long")
            body, _, mac = token.partition(".")
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(mac), self._mac(scope, payload)):
                raise ValueError("bad signature")
            value, row_id, direction = json.loads(payload)
            if type(row_id) is not int or direction not in ("n", "p"):
                raise ValueError("bad position")
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise bad_query({"cursor": ["Not a cursor this list gave out for this sort and these filters; "
                                        "start again from the first page."]}) from None
        return value, row_id, direction == "n"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or not text.isascii():
        raise ValueError("empty")
    raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(raw) != text:  # a last character differing only in unused bits decodes the same
        raise ValueError("not canonical")
    return raw


@lru_cache(maxsize=4)
def codec_for(secret: str) -> CursorCodec:
    """The codec for a secret, derived once (the key derivation is per process, not per request)."""
    return CursorCodec(secret)
