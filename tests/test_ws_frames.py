"""RFC 6455 framing on `/ws`, spoken over a raw socket: what a browser never sends is refused.

An unmasked client frame (§5.1) and a close frame with an invalid status code or a one-byte
payload (§7.4, §5.5.1) fail the connection: the server answers a close frame with 1002 (1007 for
a reason that is not UTF-8) and closes the socket, without handling the frame.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from urllib.parse import urlsplit

import pytest

from tests.waiting import GUARD


def frame(opcode: int, payload: bytes, *, masked: bool = True, final: bool = True) -> bytes:
    assert len(payload) < 126
    head = bytes([(0x80 if final else 0) | opcode, (0x80 if masked else 0) | len(payload)])
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(byte ^ key[n % 4] for n, byte in enumerate(payload))


async def handshake(base_url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /ws HTTP/1.1\r\nHost: {address.netloc}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GUARD)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def close_frame_then_eof(reader: asyncio.StreamReader) -> int | None:
    """The status code of the server's close frame (skipping any data frames before it), then EOF."""
    while True:
        head = await asyncio.wait_for(reader.readexactly(2), GUARD)
        payload = await reader.readexactly(head[1] & 0x7F)
        if head[0] & 0x0F == 0x8:
            break
    assert await asyncio.wait_for(reader.read(), GUARD) == b"", "the socket stayed open"
    return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None


@pytest.mark.parametrize("sent, expected", [
    (frame(0x1, b'{"type":"ping"}', masked=False), 1002),               # unmasked text frame
    (frame(0x9, b"hi", masked=False), 1002),                            # unmasked ping
    (frame(0x8, struct.pack(">H", 1000), masked=False), 1002),          # unmasked close
    (frame(0x8, struct.pack(">H", 999)), 1002),                         # below the range
    (frame(0x8, struct.pack(">H", 1005)), 1002),                        # reserved: never on the wire
    (frame(0x8, struct.pack(">H", 1006)), 1002),
    (frame(0x8, struct.pack(">H", 1015)), 1002),
    (frame(0x8, struct.pack(">H", 2000)), 1002),                        # unassigned
    (frame(0x8, struct.pack(">H", 5000)), 1002),                        # beyond the range
    (frame(0x8, b"\x03"), 1002),                                        # a one-byte payload
    (frame(0x8, struct.pack(">H", 1000) + b"\xff\xfe"), 1007),          # a reason that is not UTF-8
])
async def test_frames_rfc_6455_forbids_fail_the_connection(base_url, sent, expected):
    reader, writer = await handshake(base_url)
    try:
        writer.write(sent)
        await writer.drain()
        assert await close_frame_then_eof(reader) == expected
    finally:
        writer.close()


@pytest.mark.parametrize("code", [1000, 1001, 1011, 3000, 4999])
async def test_a_valid_close_is_answered_with_the_same_code(base_url, code):
    reader, writer = await handshake(base_url)
    try:
        writer.write(frame(0x8, struct.pack(">H", code) + "bye ✓".encode()))
        await writer.drain()
        assert await close_frame_then_eof(reader) == code
    finally:
        writer.close()


async def test_masked_frames_are_served(base_url, api):
    reader, writer = await handshake(base_url)
    try:
        token = await api.token("user")
        for message in ({"type": "auth", "token": token}, {"type": "subscribe", "topics": ["orders"]}):
            writer.write(frame(0x1, json.dumps(message).encode()) if len(json.dumps(message)) < 126
                         else long_frame(json.dumps(message).encode()))
        await writer.drain()
        head = await asyncio.wait_for(reader.readexactly(2), GUARD)
        assert head[0] == 0x81, head  # a final text frame
        reply = json.loads(await reader.readexactly(head[1] & 0x7F))
        assert reply["type"] == "subscribed" and reply["topics"] == ["orders"]
    finally:
        writer.close()


def long_frame(payload: bytes) -> bytes:
    """A masked text frame of 126-65535 bytes (the 16-bit length form)."""
    key = os.urandom(4)
    return (bytes([0x81, 0x80 | 126]) + struct.pack(">H", len(payload)) + key
            + bytes(byte ^ key[n % 4] for n, byte in enumerate(payload)))
