"""Raw HTTP edges through the real server: big and chunked bodies, slow bodies, long URLs, big headers,
many query fields, NUL in paths, and links that never name a host the client made up.
"""
from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from core.config import ConfigError, Settings
from tests.conftest import SECRET
from tests.servers import ServerProcess, server_env
from tests.test_ws_limits import rss

WAIT = 30.0  # guards against a hang only
MIB = 1024 * 1024


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response (Content-Length framed), or (0, {}, b"") on a reset."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return 0, {}, data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers.get("content-length", 0)):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(lines[0].split()[1]), headers, body
    except ConnectionResetError:
        return 0, {}, b""


def exchange(port: int, head: bytes, body: bytes = b"", piece: int = 64 * 1024) -> tuple[int, dict, bytes]:
    """Send a request head and body the way a simple client does (all of it, then read)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(head)
        try:
            for start in range(0, len(body), piece):
                sock.sendall(body[start:start + piece])
        except (BrokenPipeError, ConnectionResetError):
            pass  # what the client sees then is checked below
        return read_response(sock)


def post_head(path: str, length: int | None, token: str | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body: bytes, piece: int = 64 * 1024) -> bytes:
    pieces = [body[i:i + piece] for i in range(0, len(body), piece)]
    parts = [b"%x\r\n%s\r\n" % (len(part), part) for part in pieces]
    return b"".join(parts) + b"0\r\n\r\n"


def assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, (status, body[:300])
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == expected


# -- bodies -----------------------------------------------------------------------------------

def urllib_post(url: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """POST the way Python's urllib does: the whole body first, then read the answer."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
    except (ConnectionError, urllib.error.URLError) as exc:  # the reset the client must not see
        return 0, {"error": repr(exc)}, b""


@pytest.mark.parametrize("size", [2 * MIB, 8 * MIB])
async def test_a_client_still_sending_an_oversized_body_reads_the_413(base_url: str, size: int) -> None:
    loop = asyncio.get_running_loop()
    for _ in range(4):  # a reset shows only some of the time: try a few
        answer = await loop.run_in_executor(None, urllib_post, base_url + "/auth/login", b"x" * size)
        assert answer[0] == 413, answer[1]
        assert_problem(*answer, 413)
        raw = await loop.run_in_executor(None, exchange, port_of(base_url), post_head("/auth/login", size),
                                         b"x" * size)
        assert_problem(*raw, 413)


@pytest.mark.parametrize("size", [2 * MIB, 20 * MIB])
async def test_a_chunked_body_over_1_mib_is_413(base_url: str, size: int) -> None:
    answer = await asyncio.get_running_loop().run_in_executor(
        None, exchange, port_of(base_url), post_head("/auth/login", None), chunked(b"x" * size))
    if size > 16 * MIB:  # past what is read and discarded the answer goes out before the body ends
        assert answer[0] in (413, 0), answer[:2]
        if answer[0]:
            assert_problem(*answer, 413)
    else:
        assert_problem(*answer, 413)


async def test_a_chunked_body_within_the_limit_still_works(api: Any, base_url: str, make: Any) -> None:
    token = await api.token("admin")
    body = json.dumps({"sku": "CH-1", "name": "Chunked", "price": "2.00"}).encode()
    answer = await asyncio.get_running_loop().run_in_executor(
        None, exchange, port_of(base_url), post_head("/products", None, token), chunked(body, 7))
    assert answer[0] == 201, answer


@pytest.mark.settings(body_timeout=1.0)
async def test_a_body_that_never_arrives_is_dropped(base_url: str) -> None:
    def stall() -> bytes:
        with socket.create_connection(("127.0.0.1", port_of(base_url)), timeout=WAIT) as sock:
            sock.sendall(post_head("/auth/login", 100) + b'{"username"')
            return sock.recv(65536)  # b"" once the server gives up on the body

    assert await asyncio.get_running_loop().run_in_executor(None, stall) == b""


async def test_unfinished_chunked_uploads_hold_no_more_than_the_limit(tmp_path: Path) -> None:
    """Ten uploads that send 12 MiB chunked and then stall: the server keeps none of it."""
    server = ServerProcess(tmp_path, server_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'f.db'}"))
    sockets: list[socket.socket] = []
    try:
        await server.wait_ready()
        before = rss(server.proc.pid)
        piece = b"x" * (256 * 1024)
        frame = b"%x\r\n%s\r\n" % (len(piece), piece)

        def upload() -> socket.socket:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
            sock.sendall(post_head("/auth/login", None))
            for _ in range(48):
                sock.sendall(frame)
            return sock

        loop = asyncio.get_running_loop()
        for _ in range(10):
            sockets.append(await loop.run_in_executor(None, upload))
        await asyncio.sleep(1)  # let the server take in what is in flight
        grown = rss(server.proc.pid) - before
        assert grown < 40 * MIB, f"grew {grown / MIB:.0f} MiB holding 10 unfinished uploads"
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


# -- heads: URL, headers, query, path ---------------------------------------------------------

def get_head(target: str, extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


@pytest.mark.parametrize("head, status", [
    (get_head("/products?" + "&".join(["page=1"] * 1001)), 400),
    (get_head("/healthz", "X-Padding: " + "p" * 70_000 + "\r\n"), 431),
    (get_head("/products?q=" + "a" * 100_000), 414),
    (get_head("/static/%00"), 404),
    (get_head("/static/dash%00board.js"), 404),
    (get_head("/products/1%0a"), 404),
])
async def test_refusals_from_the_http_layer_are_problem_json(base_url: str, head: bytes, status: int) -> None:
    answer = await asyncio.get_running_loop().run_in_executor(None, exchange, port_of(base_url), head)
    assert_problem(*answer, status)


async def test_a_thousand_query_fields_are_still_read(api: Any) -> None:
    response = await api.get("/products?" + "&".join(["page=1"] * 999), role="user")
    assert response.status == 200


# -- links and Location -----------------------------------------------------------------------

async def test_a_made_up_host_never_reaches_another_callers_links(api: Any, make: Any) -> None:
    for _ in range(3):
        await make.product()
    poisoned = await api.get("/products?per_page=1", role="user", headers={"Host": "attacker.example"})
    assert "attacker.example" in poisoned.headers["Link"]
    honest = await api.get("/products?per_page=1", role="user")
    assert "attacker.example" not in honest.headers["Link"], honest.headers["Link"]
    assert f"<{api.base_url}/products?" in honest.headers["Link"]


@pytest.mark.settings(public_url="https://factory.example.com")
async def test_links_and_location_come_from_the_public_url(api: Any, make: Any) -> None:
    for _ in range(3):
        await make.product()
    listed = await api.get("/products?per_page=1", role="user", headers={"Host": "attacker.example"})
    links = listed.headers["Link"]
    assert "attacker.example" not in links and links.count("<https://factory.example.com/products?") == 3
    created = await api.post("/customers", {"name": "Acme", "email": "acme@example.com",
                                            "phone": "+4930123456"}, role="admin")
    assert created.headers["Location"] == f"https://factory.example.com/customers/{created.json['id']}"


@pytest.mark.parametrize("value", ["factory.example.com", "ftp://x.example", "https://x.example/?a=1", "https://"])
def test_a_malformed_public_url_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="FACTORY_PUBLIC_URL"):
        Settings.from_env({"FACTORY_JWT_SECRET": SECRET, "FACTORY_PUBLIC_URL": value})


def test_the_public_url_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"FACTORY_JWT_SECRET": SECRET,
                                  "FACTORY_PUBLIC_URL": "https://factory.example.com/"})
    assert settings.public_url == "https://factory.example.com"
