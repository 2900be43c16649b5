"""The database: engine and sessions per request, and units of work that announce their commits."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
    nullcontext,
)
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from core.dbguard import DatabaseGuard, DatabaseUnavailable

log = logging.getLogger("factory.db")

DEFAULT_POOL_SIZE = 20
# How long a request waits for a free pooled connection before its 503 ("busy"). Longer than the
# outage timeout: a burst of writes queueing behind row locks is busy, not gone (an outage is
# told by the guard's probe and refused at once either way).
POOL_WAIT = 5.0

# MariaDB errors that mean the transaction lost a race with another, not that the database is away:
# a deadlock (1213: InnoDB rolled it back) and a lock wait timeout (1205). Run again from the start
# they succeed; `Database.transaction` does so a few times.
WRITE_CONFLICTS = frozenset({1213, 1205})
WRITE_ATTEMPTS = 4
DOWN_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError, ConnectionError, OSError,
               asyncio.TimeoutError, DatabaseUnavailable)


@dataclass
class Change:
    """What one committed unit of work changed: table names and the events to publish."""

    tables: set[str] = field(default_factory=set)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # Production lines whose figures moved though no event names them (a record's old line).
    lines: set[str] = field(default_factory=set)


T = TypeVar("T")
CommitListener = Callable[[Change], Awaitable[None] | None]
# Runs inside a write transaction just before its commit: what it writes commits with the change.
BeforeCommit = Callable[["UnitOfWork"], Awaitable[None]]
# Hooks for the writes of the current context only (one request), e.g. marking an Idempotency-Key
# applied. Background work a request starts never sees them: it runs in a fresh context
# (`core.tasks.spawn`), so its transactions do not run the request's hooks.
_context_hooks: ContextVar[tuple[BeforeCommit, ...]] = ContextVar("before_commit", default=())


@contextmanager
def before_each_commit(hook: BeforeCommit) -> Iterator[None]:
    """Run `hook` in every write transaction this context commits while the block runs."""
    token = _context_hooks.set((*_context_hooks.get(), hook))
    try:
        yield
    finally:
        _context_hooks.reset(token)


class UnitOfWork:
    """A write transaction; `emit` queues a live event that goes out only after commit."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.change = Change()

    def touch(self, *tables: str) -> None:
        """Mark tables changed by Core statements the ORM flush does not see."""
        self.change.tables.update(tables)

    def emit(self, topic: str, name: str, data: dict[str, Any]) -> None:
        self.change.events.append((topic, name, data))


class AnnouncementGate:
    """Lets a reader see the database and the published events at one instant.

    A write's rows are visible from its commit, its events only once the commit has been announced.
    Writes with events hold the gate from just before their commit until the announcement is done;
    a `consistent` read waits for those under way to finish and holds new ones back while it runs,
    so every row it sees has its event published and no published event is missing from it.
    """

    def __init__(self, drain_timeout: float) -> None:
        self.drain_timeout = drain_timeout
        self._open = asyncio.Event()
        self._open.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._committing = 0
        self._readers = asyncio.Lock()

    @asynccontextmanager
    async def committing(self) -> AsyncIterator[None]:
        while not self._open.is_set():
            await self._open.wait()
        self._committing += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._committing -= 1
            if not self._committing:
                self._idle.set()

    @asynccontextmanager
    async def consistent(self) -> AsyncIterator[None]:
        async with self._readers:
            self._open.clear()
            try:
                try:
                    await asyncio.wait_for(self._idle.wait(), self.drain_timeout)
                except TimeoutError:  # an announcement stuck on an outage: read anyway
                    log.warning("commits still being announced after %.1f s", self.drain_timeout)
                yield
            finally:
                self._open.set()


def _record_flushed_tables(session: Session, flush_context: object) -> None:
    tables = session.info.setdefault("touched_tables", set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table:
            tables.add(table)


class RecordingSession(Session):
    """The application's sessions: each flush records the tables it wrote (for `Change.tables`)."""


# Once for the class: listening per session cost every write ~1% of its CPU.
event.listen(RecordingSession, "after_flush", _record_flushed_tables)


class Database:
    """Owns the engine for the application's lifetime; disposed at shutdown."""

    def __init__(self, url: str, *, timeout: float = 2.0, pool_size: int = DEFAULT_POOL_SIZE,
                 echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options = _engine_options(url, timeout, pool_size)
        # A networked database can vanish mid-query: the guard turns that into fast 503s (core/dbguard.py).
        self.guard = None if self.is_sqlite else DatabaseGuard(url, timeout)
        if self.guard is not None:
            options["connect_args"] = self.guard.connect_args(options.get("connect_args", {}))
        # hide_parameters: a logged statement error never carries the values (password hashes, tokens).
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, hide_parameters=True, **options)
        if self.guard is not None:
            self.guard.attach(self.engine)
            event.listen(self.engine.sync_engine, "reset", _roll_back_if_open)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False,
                                               sync_session_class=RecordingSession)
        # SQLite has one writer at a time: queue writers here instead of failing with SQLITE_BUSY.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._listeners: list[CommitListener] = []
        self._before_commit: list[BeforeCommit] = []
        self.announcements = AnnouncementGate(timeout)
        self.timeout = timeout

    def on_commit(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def before_commit(self, hook: BeforeCommit) -> None:
        """Run `hook(uow)` in every write transaction before it commits (the event outbox)."""
        self._before_commit.append(hook)

    @property
    def available(self) -> bool:
        """False during a detected outage (requests get 503 without waiting)."""
        return self.guard is None or self.guard.available

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session: `async with db.session() as session`."""
        async with self._guarded(), self.sessionmaker() as session:
            yield session

    def _guarded(self) -> AbstractAsyncContextManager[None]:
        return self.guard.operation() if self.guard is not None else nullcontext()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[UnitOfWork]:
        """Run a write transaction; listeners hear of it only once it has committed."""
        async with AsyncExitStack() as announcing:
            if self._write_lock is not None:
                await self._write_lock.acquire()
            try:
                async with self._guarded(), self.sessionmaker() as session:
                    uow = UnitOfWork(session)
                    async with session.begin():
                        yield uow
                        for hook in (*self._before_commit, *_context_hooks.get()):
                            await hook(uow)
                        if uow.change.events:  # held from before the commit until it is announced
                            await announcing.enter_async_context(self.announcements.committing())
                    uow.change.tables |= session.sync_session.info.get("touched_tables", set())
            finally:
                if self._write_lock is not None:
                    self._write_lock.release()
            await self.announce(uow.change)

    async def transaction(self, work: Callable[[UnitOfWork], Awaitable[T]], *,
                          attempts: int = WRITE_ATTEMPTS) -> T:
        """`await work(uow)` in a write transaction; run it again in a fresh one if it lost a race.

        A deadlock or lock wait timeout rolls the whole transaction back (nothing of it committed,
        nothing announced), so `work` is run from the start, up to `attempts` times, after a short
        random pause that lets the other transaction finish. The last conflict is raised as it is
        (the handlers answer it 409 with Retry-After, never as an outage).
        """
        for attempt in range(1, attempts + 1):
            try:
                async with self.write() as uow:
                    return await work(uow)
            except DBAPIError as exc:
                if not is_write_conflict(exc) or attempt == attempts:
                    raise
                log.info("write lost a race (MariaDB error %s), attempt %d of %d: running it again",
                         _error_code(exc), attempt, attempts)
                await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def announce(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                result = listener(change)
                if result is not None:
                    await result
            except Exception:
                log.exception("commit listener failed")

    async def ping(self) -> bool:
        try:
            async with self._guarded(), self.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), self.timeout)
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        if self.guard is not None:
            await self.guard.close()
        await self.engine.dispose()


def max_connections(pool_size: int) -> int:
    """The most connections one process opens: its pool and the overflow a burst may add."""
    return pool_size + pool_overflow(pool_size)


def pool_overflow(pool_size: int) -> int:
    """Connections opened (and closed again) beyond the pool under a burst: a quarter more."""
    return pool_size // 4


def _engine_options(url: str, timeout: float, pool_size: int) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {
        # No ping before every checkout (a round trip per request): connections older than the
        # server's idle limit are recycled, the guard replaces the pool after an outage, and a
        # connection that died otherwise fails one request (503) and invalidates the pool.
        "pool_pre_ping": False,
        "pool_recycle": 1800,
        # The pool's reset rolls back on every return, even right after a COMMIT: a round trip per
        # write. `_roll_back_if_open` does it only when the server says a transaction is open.
        "pool_reset_on_return": None,
        # Kept open: a connection beyond pool_size is opened and closed per request (a handshake
        # each). Sized by FACTORY_DB_POOL_SIZE; the default leaves room for four processes under
        # MariaDB's default max_connections (151). A request that finds every connection busy
        # waits up to POOL_WAIT for one, then gets a 503 saying so (PoolTimeoutError).
        "pool_size": pool_size,
        "max_overflow": pool_overflow(pool_size),
        "pool_timeout": max(timeout, POOL_WAIT),
        "connect_args": {"connect_timeout": max(1, int(timeout))},
    }


def _roll_back_if_open(dbapi_connection: Any, record: Any, state: Any) -> None:
    """The pool's reset on return, without the ROLLBACK a committed connection doesn't need.

    MariaDB reports in every answer whether a transaction is open (SERVER_STATUS_IN_TRANS).
    """
    if state.transaction_was_reset or not state.asyncio_safe:
        return  # rolled back already, or about to be closed instead
    open_transaction = getattr(record.driver_connection, "get_transaction_status", None)
    if open_transaction is None or open_transaction():
        dbapi_connection.rollback()


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def is_unavailable(exc: BaseException) -> bool:
    """True when the error means the database is unreachable rather than the query is wrong."""
    if isinstance(exc, IntegrityError) or is_write_conflict(exc):
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, DOWN_ERRORS)


def is_write_conflict(exc: BaseException) -> bool:
    """True for a deadlock or lock wait timeout: the transaction lost a race and may be run again."""
    return isinstance(exc, DBAPIError) and _error_code(exc) in WRITE_CONFLICTS


def is_pool_exhausted(exc: BaseException) -> bool:
    """True when every pooled connection stayed busy for the whole pool timeout."""
    return isinstance(exc, PoolTimeoutError)


def _error_code(exc: DBAPIError) -> Any:
    args = getattr(exc.orig, "args", ())
    return args[0] if args else None


def integrity_field(exc: IntegrityError, candidates: Iterable[str]) -> str | None:
    """Name the column a unique or foreign-key violation is about, from the driver's message."""
    message = str(exc.orig)
    for name in candidates:
        if f".{name}" in message or f"_{name}'" in message or f"_{name}`" in message:
            return name
    return None
