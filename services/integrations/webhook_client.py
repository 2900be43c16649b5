"""The webhook HTTP client: one keep-alive connection per endpoint, pinned to checked addresses.

Tornado's simple client opens a new connection for every request, which made the TCP handshake and
the connection's setup most of a delivery's cost. aiohttp keeps connections alive and lets the
connector take its addresses from a resolver we give it, so the address filter of the SSRF guard
(`PublicResolver`) still decides every address a connection is made to: a DNS answer that changed
after the URL was checked cannot point a delivery inside the network.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from services.integrations.webhook_urls import PublicResolver

if TYPE_CHECKING:
    import aiohttp

USER_AGENT = "factory-management-webhooks/1"
MAX_CLIENTS = 256  # endpoints with an open client; the least recently used is closed beyond that
ANSWER_BYTES = 64 * 1024  # read of a receiver's answer body (then the connection is dropped)
KEEPALIVE = 30.0  # seconds an idle connection to a receiver is kept


@dataclass
class Attempt:
    """What one POST to a receiver came to."""

    ok: bool
    response_code: int | None
    error: str | None
    duration_ms: int
    retry_after: float | None = None  # seconds a 429/503 asked to wait, when it said so


class PinnedResolver:
    """aiohttp's resolver (the shape of `aiohttp.abc.AbstractResolver`), answered by the SSRF guard's:
    only public addresses (unless allowed)."""

    def __init__(self, allow_private: bool) -> None:
        self.inner = PublicResolver(allow_private=allow_private)

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_UNSPEC) -> list[dict[str, Any]]:
        addresses = await self.inner.resolve(host, port, family)
        return [{"hostname": host, "host": address[0], "port": address[1], "family": found,
                 "proto": 0, "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV}
                for found, address in addresses]

    async def close(self) -> None:
        self.inner.close()


class EndpointClients:
    """A keep-alive client per endpoint (its deliveries go one at a time, in order, so one connection
    each); closed when the endpoint's URL changes, when it is the least recently used beyond
    MAX_CLIENTS, and all at `close`."""

    def __init__(self, *, allow_private: bool, timeout: float) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self._clients: OrderedDict[int, tuple[str, aiohttp.ClientSession]] = OrderedDict()
        self.resolver = PinnedResolver(allow_private)

    async def admit(self, url: str) -> None:
        """aiohttp connects to a host given as an IP address without asking its resolver: ask it here
        (OSError for a non-public address), so a literal address meets the same guard as a name."""
        parts = urlsplit(url)
        try:
            ipaddress.ip_address(parts.hostname or "")
        except ValueError:
            return  # a name: the connector resolves it through the guard
        await self.resolver.resolve(parts.hostname or "", parts.port or 0)

    def get(self, endpoint: int, url: str) -> aiohttp.ClientSession:
        import aiohttp  # here, not at start-up: importing it costs a server or a CLI command ~0.3 s

        known = self._clients.pop(endpoint, None)
        if known is not None and known[0] == url and not known[1].closed:
            self._clients[endpoint] = known
            return known[1]
        if known is not None:
            self._close_later(known[1])
        connector = aiohttp.TCPConnector(
            resolver=self.resolver, limit=1, keepalive_timeout=KEEPALIVE,
            use_dns_cache=False)  # every new connection asks the guard again
        client = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=self.timeout),
            headers={"User-Agent": USER_AGENT})
        self._clients[endpoint] = (url, client)
        while len(self._clients) > MAX_CLIENTS:
            self._close_later(self._clients.popitem(last=False)[1][1])
        return client

    @staticmethod
    def _close_later(client: aiohttp.ClientSession) -> None:
        asyncio.get_running_loop().create_task(client.close())

    async def close(self) -> None:
        clients = [client for _, client in self._clients.values()]
        self._clients.clear()
        for client in clients:
            await client.close()
        await self.resolver.close()


async def post(clients: EndpointClients, client: aiohttp.ClientSession, url: str, body: bytes,
               headers: dict[str, str]) -> Attempt:
    """POST one body; never follows a redirect. The answer's body is read (up to ANSWER_BYTES) so the
    connection can carry the next delivery, and otherwise dropped."""
    started = time.monotonic()
    code: int | None = None
    error: str | None = None
    retry_after = None
    try:
        await clients.admit(url)
        async with client.post(url, data=body, headers=headers, allow_redirects=False) as response:
            code = response.status
            if code in (429, 503):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            left = ANSWER_BYTES
            while left > 0 and (chunk := await response.content.readany()):
                left -= len(chunk)
            if left <= 0:
                response.close()  # more than it should say: do not reuse the connection
    except Exception as exc:  # refused, unreachable, timed out, or a non-public address
        code, error = None, describe(exc)
    duration = int((time.monotonic() - started) * 1000)
    ok = code is not None and 200 <= code < 300
    if not ok and error is None:
        error = f"HTTP {code}" + (" (redirects are not followed)" if code and 300 <= code < 400 else "")
    return Attempt(ok, code, error, duration, retry_after)


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds from now: delay-seconds or an HTTP-date (RFC 9110); None if absent
    or not understood."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 10**9))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def describe(exc: BaseException | None) -> str:
    """A short reason for the attempt log: the error's kind and message, never a traceback."""
    if exc is None:
        return "no response"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "TimeoutError: no answer within the timeout"
    return f"{exc.__class__.__name__}: {exc}"[:255]
