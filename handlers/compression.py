"""gzip for every response over 1 KiB whose client accepts it (JSON, problem+json, CSV, HTML, text).

Tornado's own transform compresses `text/*` and a fixed list of types; this one also compresses
every `+json` type (a long `errors` list in a problem document). Streamed bodies (CSV exports) are
compressed chunk by chunk as they are flushed. A compressed answer's ETag is marked weak (RFC 9110:
the bytes differ from the identity answer's), and `If-None-Match` still matches it, since Tornado
compares entity tags weakly.
"""
from __future__ import annotations

from typing import Any

from tornado import httputil
from tornado.web import GZipContentEncoding


class Compression(GZipContentEncoding):
    """`Content-Encoding: gzip` when the client sends `Accept-Encoding: gzip` and the body is over 1 KiB."""

    MIN_LENGTH = 1024

    def _compressible_type(self, ctype: str) -> bool:
        return super()._compressible_type(ctype) or ctype.endswith("+json")

    def transform_first_chunk(self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes,
                              finishing: bool) -> tuple[int, httputil.HTTPHeaders, bytes]:
        status_code, headers, chunk = super().transform_first_chunk(status_code, headers, chunk, finishing)
        etag = headers.get("Etag")
        if headers.get("Content-Encoding") == "gzip" and etag and not etag.startswith("W/"):
            headers["Etag"] = f"W/{etag}"
        return status_code, headers, chunk


def transforms() -> list[Any]:
    """The application's output transforms."""
    return [Compression]
