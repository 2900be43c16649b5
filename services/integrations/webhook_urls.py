"""Webhook URLs: only http(s) endpoints on public addresses, checked when saved and when connecting."""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from tornado.netutil import DefaultLoopResolver, Resolver

from core.errors import invalid

RESOLVE_TIMEOUT = 5.0
MAX_URL_LENGTH = 2048


def is_public(address: str) -> bool:
    """False for loopback, private, link-local, shared, multicast, reserved and unspecified addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _refuse(message: str) -> Exception:
    return invalid({"url": [message]}, detail=f"The webhook url is refused: {message}")


async def check_url(url: str, *, allow_private: bool) -> str:
    """The URL if it may receive webhooks; a 422 naming `url` otherwise (SSRF guard)."""
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"Longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _refuse("Not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse("Must be an http:// or https:// URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise _refuse("Must not carry credentials; the signature authenticates the sender.")
    if parts.fragment:
        raise _refuse("Must not have a #fragment.")
    if allow_private:
        return url
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    except (OSError, TimeoutError, UnicodeError):
        raise _refuse(f"The host {parts.hostname!r} cannot be resolved.") from None
    addresses = {info[4][0] for info in infos}
    private = sorted(address for address in addresses if not is_public(address))
    if private or not addresses:
        raise _refuse(f"The host resolves to a loopback, private or link-local address ({private[0]}); "
                      "set FACTORY_WEBHOOK_ALLOW_PRIVATE=1 to allow internal receivers.")
    return url


class PublicResolver(Resolver):
    """Resolves for the delivery client and drops non-public addresses, so a DNS answer that changed
    after the URL was checked (rebinding) cannot point a delivery inside the network."""

    def initialize(self, allow_private: bool = False) -> None:  # type: ignore[override]
        self.allow_private = allow_private
        self.inner = DefaultLoopResolver()

    async def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
                      ) -> list[tuple[int, Any]]:
        addresses = await self.inner.resolve(host, port, family)
        if self.allow_private:
            return addresses
        public = [entry for entry in addresses if is_public(entry[1][0])]
        if not public:
            raise OSError(f"{host} resolves only to non-public addresses")
        return public
