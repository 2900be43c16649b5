"""The hub's `send`/`close` pair over a Tornado WebSocket stream, at the cost of one socket write per batch.

`FrameWriter` (realtime/hub.py) joins a loop turn's frames with a scheduled flush and a future per
turn; with a thousand subscribers that is three callbacks and two task steps per delivery. Here
`send` only appends the frame's bytes, and the writer's first `await` of its batch writes them all
with one `send` system call when the stream has nothing pending (else through `IOStream.write`), so
the await does not even yield. Only a client whose socket is full makes the writer wait (and its
queue then fills: 1013).
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Generator
from typing import Any

from tornado.iostream import IOStream, StreamClosedError

FRAME_CACHE_SIZE = 256
# Recently framed texts: the hub hands every subscriber the same event text, so it is framed once.
_framed: dict[str, bytes] = {}


def text_frame(text: str) -> bytes:
    """An unmasked RFC 6455 text frame (server to client) holding `text`."""
    frame = _framed.get(text)
    if frame is None:
        payload = text.encode()
        size = len(payload)
        if size < 126:
            header = bytes((0x81, size))  # FIN + text opcode
        elif size <= 0xFFFF:
            header = struct.pack("!BBH", 0x81, 126, size)
        else:
            header = struct.pack("!BBQ", 0x81, 127, size)
        frame = header + payload
        if len(_framed) >= FRAME_CACHE_SIZE:
            del _framed[next(iter(_framed))]
        _framed[text] = frame
    return frame


class StreamFrames:
    """Frames for one connection: `send` queues bytes, awaiting any send's result writes them all."""

    __slots__ = ("_chunks", "_close", "_flushed", "_socket", "_stream", "_written")

    def __init__(self, stream: IOStream, close: Callable[[int, str], Any]) -> None:
        self._stream = stream
        self._close = close
        # Plain TCP only: a TLS stream's socket must go through its SSLIOStream.
        self._socket = stream.socket if type(stream) is IOStream else None
        self._chunks: list[bytes] = []
        self._written: Any = None  # the stream's future for the last write it buffered
        self._flushed = _Flushed(self)

    def send(self, text: str) -> _Flushed:
        self._chunks.append(text_frame(text))
        return self._flushed

    def close(self, code: int, reason: str) -> None:
        """Write what is queued, then close: no frame may follow the close frame."""
        try:
            self.flush()
        except StreamClosedError:
            pass
        self._close(code, reason)

    def flush(self) -> Any:
        """Write the queued frames in one call; returns the future of a write still buffered, if any."""
        chunks = self._chunks
        if chunks:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            stream = self._stream
            if self._socket is not None and not stream.writing() and not stream.closed():
                # Nothing of the stream's is pending, so the order holds: send straight away.
                # IOStream.write costs several times the system call (measured 22 µs against 2-10).
                try:
                    sent = self._socket.send(data)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    sent = 0  # the stream's own write meets the error again and closes properly
                if sent == len(data):
                    return None
                data = data[sent:]
            self._written = stream.write(data)
        return self._written


class _Flushed:
    """Awaiting it flushes the connection's frames; it yields only while the socket is full."""

    __slots__ = ("_frames",)

    def __init__(self, frames: StreamFrames) -> None:
        self._frames = frames

    def __await__(self) -> Generator[Any, None, None]:
        written = self._frames.flush()
        if written is not None:
            yield from written.__await__()
