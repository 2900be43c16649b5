"""The live-feed test client: a real WebSocket to /ws speaking JSON frames, for every test that needs one."""
from __future__ import annotations

import json
from typing import Any

import tornado.httpclient
import tornado.websocket

from tests.waiting import answered

ALL_TOPICS = ["inventory", "orders", "production"]


def ws_url(base_url: str) -> str:
    """The /ws address of the server at `base_url` (http://host:port)."""
    return base_url.replace("http://", "ws://", 1) + "/ws"


class Feed:
    """A live-feed client over a real WebSocket: JSON frames in and out, and how it was closed."""

    def __init__(self, conn: tornado.websocket.WebSocketClientConnection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str, *, headers: dict[str, str] | None = None) -> Feed:
        """A connection to the /ws `url` (query included) that has not signed in."""
        request = tornado.httpclient.HTTPRequest(url, headers=headers or {})
        return cls(await tornado.websocket.websocket_connect(request))

    @classmethod
    async def open(cls, url: str, token: str) -> Feed:
        """A connection to the /ws `url` that signs in with `token` as its first frame."""
        feed = await cls.connect(url)
        feed.send(type="auth", token=token)
        return feed

    def send(self, **message: Any) -> None:
        self.conn.write_message(json.dumps(message))

    async def receive(self) -> dict[str, Any] | None:
        """The next frame, or None once the server has closed the connection."""
        text = await answered(self.conn.read_message())
        return None if text is None else json.loads(text)

    async def subscribe(self, topics: list[str] = ALL_TOPICS, **options: Any) -> dict[str, Any]:
        self.send(type="subscribe", topics=topics, **options)
        reply = await self.receive()
        assert reply is not None and reply["type"] == "subscribed", (reply, self.closed)
        return reply

    async def events(self, count: int) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while len(received) < count:
            message = await self.receive()
            assert message is not None, f"closed {self.closed} after ids {[m['id'] for m in received]}"
            if message["type"] == "event":
                received.append(message)
        return received

    async def until_closed(self) -> tuple[int | None, str | None]:
        while await self.receive() is not None:
            pass
        return self.closed

    async def pong(self) -> dict[str, Any] | None:
        """Round-trip a ping: every frame queued before it has arrived once this returns."""
        self.send(type="ping")
        return await self.receive()

    async def quiet(self) -> list[dict[str, Any]]:
        """Round-trip a ping: every frame sent before it has arrived when this returns; those frames."""
        self.send(type="ping")
        frames = []
        while (message := await self.receive()) is not None and message["type"] != "pong":
            frames.append(message)
        return frames

    @property
    def closed(self) -> tuple[int | None, str | None]:
        return self.conn.close_code, self.conn.close_reason

    def close(self) -> None:
        self.conn.close()
