"""Database outage detection: fast 503s while a networked database is gone, recovery without a restart.

A refused or reset connection fails fast by itself. The hard case is a half-dead link (a
partition, a stalled proxy): a query, a pool pre-ping or a handshake waits for an answer that
never comes. The guard times every database operation; once one has waited `stall_after`
seconds it probes the server, and if the probe gets no answer it declares an outage: it aborts
every raw connection and pending connect (the stuck awaits fail at once, their requests get
503), and refuses new operations straight away until a probe succeeds again. A slow query on a
healthy server passes the probe and is left alone.

The probe runs in a thread with a blocking socket and asks only for the server's greeting
(MySQL speaks first on a new connection), so a busy event loop can't make it fail.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from core.tasks import spawn

log = logging.getLogger("factory.db")

WATCH_INTERVAL = 0.1
RECHECK_INTERVAL = 0.5


class DatabaseUnavailable(Exception):
    """The database did not answer; requests get 503 until it is back."""


class DatabaseGuard:
    """Watches a networked engine's operations and declares (and ends) outages."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.available = True
        self.stall_after = timeout / 4
        self.probe_timeout = timeout / 4
        self.connect_timeout = timeout
        self._address = _server_address(url)
        self._operations: dict[int, float] = {}
        self._ids = itertools.count()
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._outage: asyncio.Future[None] | None = None  # resolved when an outage is declared
        self._watcher: asyncio.Task[None] | None = None
        self._prober: ThreadPoolExecutor | None = None
        self._last_ok = 0.0
        self._engine: AsyncEngine | None = None

    def attach(self, engine: AsyncEngine) -> None:
        """Watch the raw connections `engine` opens, to abort them in an outage."""
        event.listen(engine.sync_engine, "connect", self._remember_connection)
        self._engine = engine

    def connect_args(self, connect_args: dict[str, Any]) -> dict[str, Any]:
        """The engine's connect_args with the driver's connect bounded and gated (aiomysql)."""
        if self.url.startswith("mysql+aiomysql"):
            import aiomysql

            connect_args = {**connect_args, "async_creator_fn": self.connector(aiomysql.connect)}
        return connect_args

    @asynccontextmanager
    async def operation(self) -> AsyncIterator[None]:
        """Time one unit of database work; refuse it at once during an outage."""
        if not self.available:
            raise DatabaseUnavailable("the database is unreachable")
        ident = next(self._ids)
        self._operations[ident] = asyncio.get_running_loop().time()
        if self._watcher is None or self._watcher.done():
            self._watcher = spawn(self._watch())
        try:
            yield
        finally:
            del self._operations[ident]

    def connector(self, connect: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap the driver's connect: bounded as a whole (handshake too), given up in an outage."""

        async def connect_within(*args: Any, **kwargs: Any) -> Any:
            if not self.available:
                raise DatabaseUnavailable("the database is unreachable")
            attempt = asyncio.ensure_future(_awaited(connect(*args, **kwargs)))
            try:
                done, _ = await asyncio.wait({attempt, self._outage_future()}, timeout=self.connect_timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                _abandon(attempt)
                raise
            if attempt in done:
                return attempt.result()
            _abandon(attempt)
            raise DatabaseUnavailable("no answer from the database")

        return connect_within

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if self._prober is not None:
            self._prober.shutdown(wait=False)
            self._prober = None

    # -- the watchdog -----------------------------------------------------------------------

    async def _watch(self) -> None:
        """Runs while there is work in flight or an outage to end."""
        loop = asyncio.get_running_loop()
        while self._operations or not self.available:
            if not self.available:
                await asyncio.sleep(RECHECK_INTERVAL)
                self._abort_connections()  # any still stuck (one that connected as the outage began)
                if await self.probe():
                    if self._engine is not None:  # the pooled connections were aborted: start afresh
                        await self._engine.dispose(close=False)
                    self.available = True
                    self._outage = None
                    log.warning("database is reachable again; serving requests")
                continue
            await asyncio.sleep(WATCH_INTERVAL)
            now = loop.time()
            oldest = min(self._operations.values(), default=now)
            if now - oldest < self.stall_after or now - self._last_ok < self.stall_after:
                continue
            if await self.probe():
                self._last_ok = loop.time()  # slow, not gone
            elif self.available:
                self._declare_outage()

    async def probe(self) -> bool:
        """True when the server greets a fresh connection within the probe timeout."""
        if self._address is None:
            return True  # nothing to probe: leave errors to the driver
        if self._prober is None:
            self._prober = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-probe")
        return await asyncio.get_running_loop().run_in_executor(self._prober, self._greeted)

    def _greeted(self) -> bool:
        family, address = self._address
        deadline = time.monotonic() + self.probe_timeout
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.probe_timeout)
                sock.connect(address)
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                return bool(sock.recv(4))
        except OSError:
            return False

    def _declare_outage(self) -> None:
        self.available = False
        log.warning("database unreachable: answering 503 until it is back (%d operations in flight aborted)",
                    len(self._operations))
        outage = self._outage_future()
        if not outage.done():
            outage.set_result(None)
        self._abort_connections()

    def _abort_connections(self) -> None:
        for connection in list(self._connections):
            try:
                connection.close()  # closes the socket: a read waiting on it fails at once
            except Exception:  # noqa: BLE001 - one broken close must not stop the others
                log.debug("closing a database connection failed", exc_info=True)

    def _outage_future(self) -> asyncio.Future[None]:
        if self._outage is None:
            self._outage = asyncio.get_running_loop().create_future()
        return self._outage

    def _remember_connection(self, dbapi_connection: Any, connection_record: Any) -> None:
        connection = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        self._connections.add(connection)
        if not self.available:  # finished its handshake just as the outage was declared
            connection.close()


def _server_address(url: str) -> tuple[int, Any] | None:
    """Where the database listens: (socket family, address), or None if it can't be told."""
    parsed = make_url(url)
    unix_socket = parsed.query.get("unix_socket")
    if unix_socket:
        return socket.AF_UNIX, unix_socket if isinstance(unix_socket, str) else unix_socket[0]
    if parsed.get_backend_name() != "mysql":
        return None
    host = parsed.host or "localhost"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, parsed.port or 3306)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _abandon(attempt: asyncio.Future[Any]) -> None:
    """Give up a connect: cancel it, and close the connection should it still succeed."""
    attempt.cancel()
    attempt.add_done_callback(_close_late_connection)


def _close_late_connection(attempt: asyncio.Future[Any]) -> None:
    if attempt.cancelled() or attempt.exception() is not None:
        return
    attempt.result().close()
