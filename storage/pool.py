"""The process's PostgreSQL connections: an asyncpg pool, and the connection every statement runs on.

One query path: storage modules hold SQL text with $n parameters and run it through storage.driver
on a `Connection` from this pool; asyncpg prepares each text once per connection and reuses it.
SQLAlchemy only defines the tables (storage.tables) and drives the migrations. The app's pool was
SQLAlchemy's until the checkout alone measured ~60 µs of CPU per request over asyncpg's own
(bench/pool_checkout.py), and running asyncpg statements inside its transactions needed its
adapter's private internals.

- `pool.connect()`: a connection outside a transaction; each statement commits on its own until
  `begin()` (or a driver call with `begin=True`) opens one, which is rolled back if the block leaves
  it open (use `statements()` in services.context to commit it).
- `pool.begin()`: a transaction for the block: committed at its end, rolled back on an error.
- Nothing runs on release: asyncpg's default reset (`RESET ALL`, `UNLISTEN *`, ... : one round trip
  per request) is replaced by a rollback only when a transaction was left open. The app never
  changes session state on pooled connections (SET LOCAL only, inside transactions).

Unavailable: a connection that cannot be opened (refused, reset, too many clients, the server
starting or shutting down) or is lost mid-statement raises `DatabaseUnavailable`, the rest of the
pool is expired (its connections are replaced on next use, as a restarted server dropped them all),
and the API answers 503; no free connection within the pool timeout raises `PoolTimeout` (503 busy).
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, AsyncIterator, Awaitable, TypeVar

import asyncpg
import orjson

from storage.db import install_log_redaction

T = TypeVar("T")


class PoolTimeout(Exception):
    """No pooled connection became free within the pool timeout."""


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached, or the connection was lost: retry later (503)."""


# Errors meaning "the server or the connection is gone", not "this statement is wrong".
_UNAVAILABLE = (
    OSError,  # refused, reset, unreachable (socket.gaierror included)
    asyncpg.ConnectionDoesNotExistError, asyncpg.ConnectionFailureError,  # lost mid-statement, class 08
    asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError,  # starting up; max_connections
    asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,  # class 57P: terminated, shutting down
    asyncpg.InvalidCatalogNameError,  # the database does not exist (yet)
)


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, _UNAVAILABLE) and not isinstance(exc, socket.timeout):
        return True
    # A connection the server dropped: asyncpg says "connection is closed", or, once its pool has
    # taken the dead connection back, "released back to the pool", or, while it is still reading the
    # server's "terminating connection" notice, "another operation is in progress" (our blocks never
    # use a connection after releasing it, nor from two tasks, so inside a block these mean lost).
    return isinstance(exc, (asyncpg.InterfaceError, asyncpg.InternalClientError)) and any(
        sign in str(exc) for sign in ("closed", "released back", "another operation"))


class Connection:
    """A pooled asyncpg connection, whether it is in a transaction, and what the block wrote (`info`:
    storage.events marks outbox rows there so the relays are woken after the commit)."""
    __slots__ = ("raw", "info", "_transaction", "_pool")

    def __init__(self, raw: asyncpg.Connection, pool: Pool | None = None) -> None:
        self.raw = raw
        self.info: dict[str, Any] = {}
        self._transaction: Any = None
        self._pool = pool

    def in_transaction(self) -> bool:
        return self._transaction is not None

    async def begin(self) -> None:
        if self._transaction is None:
            transaction = self.raw.transaction()
            await self.guarded(transaction.start())
            self._transaction = transaction

    async def commit(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await self.guarded(transaction.commit())

    async def rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None and not self.raw.is_closed():
            await transaction.rollback()

    async def guarded(self, step: Awaitable[T]) -> T:
        """Await a step on this connection; a lost connection or server is DatabaseUnavailable."""
        try:
            return await step
        except Exception as exc:
            if is_unavailable(exc):
                raise await self.lost(exc) from exc
            raise

    async def lost(self, exc: BaseException) -> DatabaseUnavailable:
        """The connection died under a statement: close it for good, expire the pool's others too
        (a restarted server dropped them all), and say so."""
        self._transaction = None
        try:
            if not self.raw.is_closed():
                self.raw.terminate()
        except asyncpg.InterfaceError:
            pass  # its pool has taken the dead connection back already
        if self._pool is not None:
            await self._pool.expire()
        return DatabaseUnavailable(f"database connection lost ({type(exc).__name__})")


def plain_dsn(url: str) -> str:
    """asyncpg wants `postgresql://`; settings may name SQLAlchemy's driver."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


def connect_options(url: str) -> dict[str, Any]:
    """asyncpg tries SSL first by default: a wasted round trip per new connection on loopback.
    Remote databases keep the default unless the URL says otherwise (`?ssl=require`)."""
    from urllib.parse import urlsplit
    parts = urlsplit(plain_dsn(url))
    if parts.hostname in ("127.0.0.1", "localhost", "::1") and "ssl" not in parts.query:
        return {"ssl": False}
    return {}


def _json_text(value: Any) -> str:
    # The storage modules pass JSON already encoded (common.jsonutil.dumps_str).
    return value if isinstance(value, str) else orjson.dumps(value).decode()


async def init_connection(raw: asyncpg.Connection) -> None:
    """json/jsonb in as text, out as Python objects (orjson), on every new connection."""
    for name in ("json", "jsonb"):
        await raw.set_type_codec(name, schema="pg_catalog", encoder=_json_text, decoder=orjson.loads,
                                 format="text")


async def _no_reset(raw: asyncpg.Connection) -> None:
    return None  # see the module docstring: asyncpg still rolls back an open transaction first


class Pool:
    """A fixed-size asyncpg pool: past `size`, requests wait their turn up to `timeout`, then 503.

    No overflow: connections opened and closed again as load comes and goes each cost a new backend
    (fork, authentication, cold caches, statements prepared again) just when the database is busiest
    (the websocket benchmark collapsed at 800 msg/s because of it). No pre-ping: it costs a round
    trip per checkout; a dead connection is found by its statement (503) and the pool renewed."""

    def __init__(self, url: str, size: int = 10, timeout: float = 5.0) -> None:
        install_log_redaction()
        self.url, self.size, self.timeout = url, size, timeout
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Lock = asyncio.Lock()
        self._busy = 0
        self.held: str | None = None  # why requests may not use the database yet (gateway.startup)

    async def _open(self) -> asyncpg.Pool:
        # Lazily, so a server started while PostgreSQL is down comes up and answers 503 meanwhile.
        async with self._opening:
            if self._pool is None:
                self._pool = asyncpg.create_pool(
                    plain_dsn(self.url), min_size=0, max_size=self.size, init=init_connection, reset=_no_reset,
                    max_inactive_connection_lifetime=1800, **connect_options(self.url))
                try:
                    await self._pool
                except BaseException:
                    self._pool = None
                    raise
            return self._pool

    async def _acquire(self) -> asyncpg.Connection:
        if self.held is not None:
            raise DatabaseUnavailable(self.held)
        pool = self._pool or await self._open()
        try:
            return await pool.acquire(timeout=self.timeout)
        except asyncio.TimeoutError:
            raise PoolTimeout(f"no database connection free within {self.timeout:g} s") from None
        except Exception as exc:
            if is_unavailable(exc):
                raise DatabaseUnavailable(f"cannot connect to the database ({type(exc).__name__})") from exc
            raise

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        raw = await self._acquire()
        self._busy += 1
        conn = Connection(raw, self)
        try:
            yield conn
        finally:
            self._busy -= 1
            try:
                if conn._transaction is not None:
                    await conn.rollback()
            finally:
                await self._release(raw)

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[Connection]:
        async with self.connect() as conn:
            await conn.begin()
            yield conn
            await conn.commit()

    async def _release(self, raw: asyncpg.Connection) -> None:
        assert self._pool is not None
        try:
            await self._pool.release(raw)
        except Exception:  # the connection was broken: asyncpg terminated it; the pool replaces it
            pass

    async def expire(self) -> None:
        """Replace every connection on its next use (the server restarted or dropped them)."""
        if self._pool is not None:
            await self._pool.expire_connections()

    def checked_out(self) -> int:
        return self._busy

    async def dispose(self, timeout: float = 5.0) -> None:
        """Close every connection; those still busy after `timeout` are terminated (shutdown is bounded)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout)
            except asyncio.TimeoutError:
                pool.terminate()

