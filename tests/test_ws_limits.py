"""/ws: connections capped per user and per address, and a replay never held whole for a client.

The memory test runs a real `python server.py` and measures its resident memory while 50 clients
subscribe from far back and never read a byte.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient

from tests.conftest import PASSWORDS
from tests.feeds import Feed, ws_url
from tests.servers import ServerProcess, server_env

WAIT = 20.0  # guards against a hang only


@pytest.mark.settings(ws_max_per_user=2, ws_max_per_address=4)
async def test_connections_are_capped_per_user_and_per_address(api: Any, base_url: str) -> None:
    user = await api.token("user")
    first, second = await Feed.open(ws_url(base_url), user), await Feed.open(ws_url(base_url), user)
    await first.subscribe()
    await second.subscribe()
    third = await Feed.open(ws_url(base_url), user)
    assert (await third.until_closed())[0] == 4429
    admin = await Feed.open(ws_url(base_url), await api.token("admin"))  # another user: its own count
    await admin.subscribe()
    unsigned = await Feed.connect(ws_url(base_url))  # the 4th open link from this address
    over = await Feed.connect(ws_url(base_url) + f"?token={user}")
    assert (await over.until_closed())[0] == 4429
    first.conn.close()
    await first.until_closed()
    unsigned.conn.close()
    await unsigned.until_closed()
    again = await Feed.open(ws_url(base_url), user)  # a closed link frees its place
    await again.subscribe()
    assert await second.pong() == {"type": "pong"}
    for feed in (second, admin, again):
        feed.conn.close()


@pytest.mark.settings(ws_max_per_user=1)
@pytest.mark.parametrize("kind", ["display", "station"])
async def test_each_display_and_station_token_has_its_own_count(api: Any, base_url: str, make: Any,
                                                                kind: str) -> None:
    """One admin mints the tokens of every screen and tablet in the hall: each has its own count."""
    await make.line("L1")
    body = {"label": "place"} if kind == "display" else {"label": "place", "lines": ["L1"]}
    tokens = [(await api.post(f"/auth/{kind}-tokens", body, role="admin")).json["token"] for _ in range(2)]
    feeds = [await Feed.open(ws_url(base_url), token) for token in tokens]
    for feed in feeds:
        await feed.subscribe()
    extra = await Feed.open(ws_url(base_url), tokens[0])
    assert (await extra.until_closed())[0] == 4429
    for feed in feeds:
        feed.conn.close()


# -- memory while clients never read ---------------------------------------------------------------

EVENTS = 1000
CLIENTS = 50
DESCRIPTION = "d" * 5000  # every stock event carries the product: about 5 KB a frame, 5 MB of replay
# What 50 stalled clients may add to the server's memory: a write budget (64 KB) plus socket
# buffers each, and slack for the allocator. Holding the replay per client would be 50 × 5+ MB.
RSS_BOUND = 64 * 1024 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def masked_text(payload: str) -> bytes:
    """A client-to-server text frame (clients must mask)."""
    data = payload.encode()
    mask = os.urandom(4)
    size = len(data)
    header = bytes((0x81, 0x80 | size)) if size < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, size)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def stalled_client(port: int, token: str) -> socket.socket:
    """Open /ws, sign in and subscribe from id 0, then never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                 .encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    sock.sendall(masked_text(json.dumps({"type": "auth", "token": token})))
    sock.sendall(masked_text(json.dumps({"type": "subscribe", "topics": ["inventory"], "since": 0})))
    return sock


async def test_stalled_clients_replaying_from_far_back_hold_little_server_memory(tmp_path: Path) -> None:
    env = server_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}",
                     FACTORY_WS_MAX_PER_USER=str(CLIENTS), FACTORY_WS_MAX_PER_ADDRESS=str(CLIENTS + 5))
    server = ServerProcess(tmp_path, env)
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    sockets: list[socket.socket] = []
    try:
        await server.wait_ready()

        async def call(method: str, path: str, body: Any, token: str | None = None) -> Any:
            headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"}
                                                             if token else {})}
            response = await client.fetch(server.base_url + path, method=method, body=json.dumps(body),
                                          headers=headers, raise_error=False, request_timeout=WAIT)
            assert response.code in (200, 201), response.body
            return json.loads(response.body)

        token = (await call("POST", "/auth/login", {"username": "admin",
                                                    "password": PASSWORDS["super_admin"]}))["access_token"]
        product = await call("POST", "/products", {"sku": "BIG-1", "name": "Big", "price": "1.00",
                                                   "description": DESCRIPTION}, token)
        path = f"/products/{product['id']}/stock-adjustments"

        async def adjust(count: int) -> None:
            for _ in range(count):
                await call("POST", path, {"delta": 1, "reason": "count"}, token)

        await asyncio.gather(*(adjust(EVENTS // 4) for _ in range(4)))
        before = rss(server.proc.pid)
        loop = asyncio.get_running_loop()
        for _ in range(CLIENTS):
            sockets.append(await loop.run_in_executor(None, stalled_client, server.port, token))
        # Wait until every replay has been attempted: the server's memory stops moving.
        peak, settled, deadline = before, 0, time.monotonic() + 60
        while settled < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            now = rss(server.proc.pid)
            settled = 0 if now > peak + 1024 * 1024 else settled + 1
            peak = max(peak, now)
        assert server.proc.poll() is None
        grown = f"grew {(peak - before) / 2**20:.1f} MiB for {CLIENTS} stalled clients"
        assert peak - before < RSS_BOUND, grown
        # Those clients are still served: one that starts reading gets its replay in order.
        assert await loop.run_in_executor(None, first_event_id, sockets[0]) in (1, 2)
    finally:
        for sock in sockets:
            sock.close()
        client.close()
        server.stop()


def first_event_id(sock: socket.socket) -> int:
    """Read frames until the first event, and return its id."""
    sock.settimeout(WAIT)
    buffer = b""
    while True:
        while len(buffer) < 4:
            buffer += sock.recv(65536)
        size, start = buffer[1] & 0x7F, 2
        if size == 126:
            size, start = struct.unpack("!H", buffer[2:4])[0], 4
        elif size == 127:
            while len(buffer) < 10:
                buffer += sock.recv(65536)
            size, start = struct.unpack("!Q", buffer[2:10])[0], 10
        while len(buffer) < start + size:
            buffer += sock.recv(65536)
        message = json.loads(buffer[start:start + size])
        buffer = buffer[start + size:]
        if message.get("type") == "event":
            return message["id"]
