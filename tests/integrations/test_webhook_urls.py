"""The webhook URL guard against SSRF: IPv6 forms that carry an IPv4 address, site-local IPv6, and
URLs with spaces or control characters — each refused with a 422 through the real server."""
from __future__ import annotations

import pytest

NOT_PUBLIC = "FACTORY_WEBHOOK_ALLOW_PRIVATE"


@pytest.mark.parametrize("url", [
    "http://[::ffff:127.0.0.1]/hook",          # IPv4-mapped, dotted
    "http://[::ffff:7f00:1]/hook",             # IPv4-mapped, hex
    "http://[::ffff:10.0.0.5]/hook",
    "http://[::127.0.0.1]/hook",               # IPv4-compatible (deprecated)
    "http://[::a9fe:a9fe]/latest/meta-data",   # IPv4-compatible 169.254.169.254
    "http://[::10.1.2.3]/hook",
    "http://[64:ff9b::7f00:1]/hook",           # NAT64 well-known prefix → 127.0.0.1
    "http://[64:ff9b::192.168.0.10]/hook",     # NAT64 → 192.168.0.10
    "http://[64:ff9b:1::a00:1]/hook",          # NAT64 local-use prefix
    "http://[2002:7f00:1::1]/hook",            # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::]/hook",          # 6to4 of 169.254.169.254
    "http://[2002:c0a8:a::1]/hook",            # 6to4 of 192.168.0.10
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # Teredo, client 127.0.0.1
    "http://[fec0::1]/hook",                   # site-local
    "http://[fed0:1::2]:8080/hook",
])
async def test_ipv6_addresses_are_judged_by_the_address_they_reach(api, app, url):
    response = await api.post("/webhooks", {"url": url, "topics": ["orders"]}, role="admin")
    assert response.status == 422, (url, response)
    assert NOT_PUBLIC in response.json["errors"]["url"][0], response
    assert (await api.get("/webhooks", role="admin")).json["meta"]["total"] == 0


@pytest.mark.parametrize("url", [
    "http://[2606:4700:4700::1111]/hook",      # a public IPv6 address
    "http://[64:ff9b::808:808]/hook",          # NAT64 of a public IPv4 address
    "http://[2002:808:808::1]/hook",           # 6to4 of a public IPv4 address
])
async def test_ipv6_addresses_that_reach_public_ones_are_accepted(api, app, url):
    response = await api.post("/webhooks", {"url": url, "topics": ["orders"], "active": False}, role="admin")
    assert response.status == 201, (url, response)  # checked, never contacted (inactive)


@pytest.mark.parametrize("url", [
    "http://example.com/a hook",  # (spaces around the whole value are trimmed, as on every field)
    "http://example.com/\thook", "http://example.com/ho\nok", "http://exa\rmple.com/hook",
    "http://example.com/\x00hook", "http://example.com/\x7fhook", "http://example.com/\x85hook",
    "http://example.com/\u00a0hook", "http://127.0.0.1\t/hook",
])
@pytest.mark.settings(webhook_allow_private=True)  # refused for what it is, not where it points
async def test_urls_with_spaces_or_control_characters_are_422(api, app, url):
    response = await api.post("/webhooks", {"url": url, "topics": ["orders"], "active": False}, role="admin")
    assert response.status == 422, (url, response)
    assert "control characters" in response.json["errors"]["url"][0]
    assert (await api.get("/webhooks", role="admin")).json["meta"]["total"] == 0
