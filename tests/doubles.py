"""Test doubles for the live-event hub: frame sinks over per-frame send callables.

Production writes through realtime/frames.py; these let hub tests drive it with plain callables.
"""
from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from realtime.hub import CloseConnection, EventHub, Subscriber

SendFrame = Callable[[str], Awaitable[Any]]


def attach_sender(hub: EventHub, send: SendFrame, close: CloseConnection) -> Subscriber:
    """Attach a connection that sends one frame per awaitable call."""
    return hub.attach(SendEach(send, close))


class SendEach:
    """A `FrameSink` over a per-frame ``send(text)`` awaitable: every send starts before any is awaited."""

    __slots__ = ("_send", "close")

    def __init__(self, send: SendFrame, close: CloseConnection) -> None:
        self._send = send
        self.close = close

    def write(self, frames: list[str]) -> Awaitable[Any]:
        # Started together, a transport that buffers on call (Tornado's write_message) flushes
        # the whole batch in one loop turn instead of one turn per frame.
        pending: list[Awaitable[Any]] = []
        try:
            for frame in frames:
                pending.append(self._send(frame))
        except BaseException:
            _discard(pending)
            raise
        sent = asyncio.ensure_future(_await_all(pending))
        # Cancelled before its first step, the task never reaches _await_all's own clean-up.
        sent.add_done_callback(lambda task: _discard(pending) if task.cancelled() else None)
        return sent


async def _await_all(pending: list[Awaitable[Any]]) -> None:
    try:
        for waitable in pending:
            await waitable
    except BaseException:
        _discard(pending)
        raise


class FrameWriter:
    """A hub ``send``/``close`` pair writing each loop turn's frames in one call.

    Tornado's ``write_message`` costs a task and a socket write per frame; with
    ``FrameWriter(stream.write, handler.close)`` every frame sent in one loop
    turn becomes one RFC 6455 server text frame in a single ``write`` call.
    ``write`` must take the bytes on call (as ``IOStream.write`` does) and return
    an awaitable; ``close`` writes what is pending first, so no data follows the
    close frame.
    """

    __slots__ = ("_chunks", "_close", "_flushed", "_write")

    def __init__(
        self, write: Callable[[bytes], Awaitable[Any]], close: CloseConnection
    ) -> None:
        self._write = write
        self._close = close
        self._chunks: list[bytes] = []
        self._flushed: asyncio.Future[None] | None = None

    def send(self, text: str) -> asyncio.Future[None]:
        """Frame ``text``; the returned future resolves once this turn's write completes."""
        payload = text.encode()
        size = len(payload)
        if size < 126:
            header = bytes((0x81, size))  # FIN + text opcode, unmasked (server to client)
        elif size <= 0xFFFF:
            header = struct.pack("!BBH", 0x81, 126, size)
        else:
            header = struct.pack("!BBQ", 0x81, 127, size)
        self._chunks += (header, payload)
        flushed = self._flushed
        if flushed is None:
            loop = asyncio.get_running_loop()
            self._flushed = flushed = loop.create_future()
            loop.call_soon(self._flush)
        return flushed

    def close(self, code: int, reason: str) -> None:
        """Write what is pending, then close the connection."""
        self._flush()
        self._close(code, reason)

    def _flush(self) -> None:
        flushed, self._flushed = self._flushed, None
        if flushed is None:  # already flushed by close()
            return
        data = b"".join(self._chunks)
        self._chunks.clear()
        try:
            written = asyncio.ensure_future(self._write(data))
        except Exception as exc:  # noqa: BLE001 - handed to whoever awaits the send
            if not flushed.done():
                flushed.set_exception(exc)
            return
        written.add_done_callback(partial(_settle, flushed))


def _settle(target: asyncio.Future[None], source: asyncio.Future[Any]) -> None:
    if target.done():  # the awaiting writer was cancelled
        if not source.cancelled():
            source.exception()
    elif source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(None)


def _discard(pending: list[Awaitable[Any]]) -> None:
    """Release sends that will never be awaited now, without warnings about them."""
    for waitable in pending:
        if asyncio.iscoroutine(waitable):
            waitable.close()  # a no-op for the ones already awaited
        elif isinstance(waitable, asyncio.Future):
            waitable.add_done_callback(_consume_outcome)


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
