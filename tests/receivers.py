"""A real webhook receiver for tests: a small Tornado app on a free port that records every request."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import tornado.httpserver
import tornado.web

from tests.servers import free_port

WAIT = 60.0  # guards against a hang only: the machine is shared and nothing here measures speed


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    stream: int  # which TCP connection it came over (the same for requests over a kept-alive one)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class _Endpoint(tornado.web.RequestHandler):
    def initialize(self, receiver: Receiver) -> None:
        self.receiver = receiver

    async def post(self, path: str) -> None:
        receiver = self.receiver
        if receiver.delay:
            await asyncio.sleep(receiver.delay)
        status = receiver.script.pop(0) if receiver.script else receiver.status
        stream = id(self.request.connection.stream)  # type: ignore[union-attr]
        receiver.requests.append(Received("/" + path, dict(self.request.headers), self.request.body, status,
                                          stream))
        self.set_status(status)
        if not 200 <= status < 300:
            for name, value in receiver.headers.items():
                self.set_header(name, value)
        if 300 <= status < 400:
            self.set_header("Location", f"{receiver.url}elsewhere")
        self.finish("ok")


class Receiver:
    """Answers each POST with the next scripted status, then with `status`; keeps what it got."""

    def __init__(self, *script: int, status: int = 200, delay: float = 0.0,
                 headers: dict[str, str] | None = None) -> None:
        self.script = list(script)
        self.headers = headers or {}  # sent with every answer that is not a 2xx (e.g. Retry-After)
        self.status = status
        self.delay = delay  # seconds each answer takes: a slow receiver
        self.requests: list[Received] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook/"
        app = tornado.web.Application([(r"/(.*)", _Endpoint, {"receiver": self})])
        self.server = tornado.httpserver.HTTPServer(app)

    def start(self) -> Receiver:
        self.server.listen(self.port, "127.0.0.1")
        return self

    def stop(self) -> None:
        self.server.stop()

    def events(self) -> list[dict[str, Any]]:
        return [request.json for request in self.requests]

    def accepted(self) -> list[Received]:
        return [request for request in self.requests if 200 <= request.status < 300]

    async def wait_for(self, count: int, timeout: float = WAIT, *, accepted: bool = False) -> list[Received]:
        """Wait until `count` requests (or accepted ones) have arrived; returns those."""
        deadline = time.monotonic() + timeout
        while len(got := (self.accepted() if accepted else self.requests)) < count:
            assert time.monotonic() < deadline, f"got {len(got)} of {count}: {self.requests}"
            await asyncio.sleep(0.02)
        return got
