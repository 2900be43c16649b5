"""The WebSocket framing rules Tornado leaves to the server (RFC 6455), enforced on `/ws`.

Tornado's server side accepts unmasked client frames and echoes any close code it is sent. The
RFC says a server must close the connection on an unmasked client frame (§5.1), and that a close
frame carries no payload or a valid status code (§7.4: 1000-1003, 1007-1014, 3000-4999) with a
UTF-8 reason (§5.5.1). Here such a frame fails the connection: a close frame with 1002 (protocol
error) or 1007 (a reason that is not UTF-8), then the socket is closed; the frame is never handled.
"""
from __future__ import annotations

import struct

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketProtocol13

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_PAYLOAD = 1007
_MASK_BIT = 0x80
_OPCODE_CLOSE = 0x8


def valid_close_code(code: int) -> bool:
    """A status code a peer may send in a close frame (RFC 6455 §7.4 and the IANA registry)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def close_payload_problem(data: bytes) -> tuple[int, str] | None:
    """(our close code, reason) when a received close frame's payload breaks the rules; else None."""
    if not data:
        return None
    if len(data) == 1:
        return CLOSE_PROTOCOL_ERROR, "a close payload needs a two-byte status code"
    (code,) = struct.unpack(">H", data[:2])
    if not valid_close_code(code):
        return CLOSE_PROTOCOL_ERROR, f"invalid close code {code}"
    try:
        data[2:].decode("utf-8")
    except UnicodeDecodeError:
        return CLOSE_INVALID_PAYLOAD, "the close reason is not UTF-8"
    return None


class StrictWebSocketProtocol(WebSocketProtocol13):
    """WebSocketProtocol13 for a server that fails the connection on frames RFC 6455 forbids."""

    _reading_header = False

    async def _receive_frame(self) -> None:
        self._reading_header = True  # the frame's first read is its two header bytes
        await super()._receive_frame()

    async def _read_bytes(self, n: int) -> bytes:
        data = await super()._read_bytes(n)
        if self._reading_header:
            self._reading_header = False
            if not data[1] & _MASK_BIT:
                self._fail(CLOSE_PROTOCOL_ERROR, "frames from a client must be masked")
        return data

    def _handle_message(self, opcode: int, data: bytes):  # type: ignore[no-untyped-def]
        if opcode == _OPCODE_CLOSE and not self.client_terminated:
            problem = close_payload_problem(data)
            if problem is not None:
                self._fail(*problem)
        return super()._handle_message(opcode, data)

    def _fail(self, code: int, reason: str) -> None:
        """Send a close frame with `code`, close the socket, and stop reading (the frame is dropped)."""
        self.client_terminated = True  # no closing handshake to wait for: close() ends the stream
        self.close(code, reason)
        raise StreamClosedError()
