"""Webhook URLs: only http(s) endpoints on public addresses, checked when saved and when connecting."""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from tornado.netutil import DefaultLoopResolver, Resolver

from core.errors import invalid

RESOLVE_TIMEOUT = 5.0
MAX_URL_LENGTH = 2048
# IPv6 ranges whose last 32 bits are an IPv4 address the packet ends up at: IPv4-compatible
# (deprecated, ::a.b.c.d) and the NAT64 well-known prefix (RFC 6052). The NAT64 local-use prefix
# (RFC 8215) reaches whatever the local translator maps it to: never public.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def is_public(address: str) -> bool:
    """False for loopback, private, link-local, site-local, shared, multicast, reserved and unspecified
    addresses — an IPv6 address that carries an IPv4 one is judged by the IPv4 address it reaches."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or ip in _NAT64_LOCAL:
            return False
        embedded = embedded_ipv4(ip)
        if embedded:
            return all(_global(inner) for inner in embedded)
    return _global(ip)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address embeds: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d),
    NAT64 (64:ff9b::a.b.c.d), 6to4 (2002:AABB:CCDD::) and Teredo (its server and client)."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _IPV4_COMPATIBLE or ip in _NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def _global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def _refuse(message: str) -> Exception:
    return invalid({"url": [message]}, detail=f"The webhook url is refused: {message}")


async def check_url(url: str, *, allow_private: bool) -> str:
    """The URL if it may receive webhooks; a 422 naming `url` otherwise (SSRF guard)."""
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"Longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        # urlsplit strips some (tab, newline) and keeps others: a URL saved is a URL as sent
        raise _refuse("Must not contain spaces or control characters; percent-encode them.")
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
