"""Hot statements straight on the asyncpg connection under a pooled SQLAlchemy connection.

SQLAlchemy Core costs 0.1–0.3 ms of CPU per statement (construction, cache key, compilation lookup,
result wrapping); asyncpg alone costs ~35 µs. The few statements on the request hot paths
(authentication, session requests, message sends, the outboxes) are therefore written as SQL text
with $n parameters and run here; asyncpg prepares each text once per connection (its statement
cache) and reuses it.

Transactions stay SQLAlchemy's: a statement run on a connection that is in a transaction joins it
(SQLAlchemy's asyncpg adapter sends BEGIN lazily, so it is sent here when nothing has run yet). On a
connection outside a transaction a statement commits on its own unless `begin=True`, which begins the
transaction SQLAlchemy's autobegin would have (use it for writes and row locks).

Queue workers (the event relay, the push worker) run on a connection of their own instead,
`queue_connection`, with lookup-only planner settings.

Errors: a connection found dead is handed to SQLAlchemy, which invalidates the pool and raises
DBAPIError(connection_invalidated=True) exactly as for its own statements (the API answers 503).
Other errors propagate as asyncpg raised them, with the statement attached (`query`) when asyncpg did
not attach it (an argument it could not encode). asyncpg has no `hide_parameters`: its errors carry
data (the server's DETAIL, a quoted argument), so they reach the log only as storage.db describes
them (`install_log_redaction`): class, SQLSTATE, schema names, the statement's first words.
"""
from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection


async def driver(conn: AsyncConnection, *, begin: bool = False) -> asyncpg.Connection:
    """The asyncpg connection under `conn`, inside conn's transaction if it has one (or `begin`)."""
    if begin and not conn.in_transaction():
        await conn.begin()
    sync = conn.sync_connection
    if sync is not None and not sync.invalidated:
        adapted = sync.connection.dbapi_connection  # checked out and valid: no I/O, no greenlet needed
    else:
        adapted = (await conn.get_raw_connection()).dbapi_connection
    if conn.in_transaction() and adapted._transaction is None:
        await adapted._start_transaction()
    return adapted.driver_connection


async def _dead(conn: AsyncConnection, raw: asyncpg.Connection) -> None:
    """If `raw` died, let SQLAlchemy find out the way it does for its own statements: it invalidates
    the pool and raises DBAPIError with connection_invalidated (answered 503 by the API)."""
    if raw.is_closed():
        await conn.exec_driver_sql("SELECT 1")


async def _run(conn: AsyncConnection, method: str, query: str, args: tuple, begin: bool) -> Any:
    raw = await driver(conn, begin=begin)
    try:
        return await getattr(raw, method)(query, *args)
    except Exception as exc:
        if isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError)) and getattr(exc, "query", None) is None:
            exc.query = query  # named in the log by its first words, never with its arguments
        await _dead(conn, raw)
        raise


async def fetch(conn: AsyncConnection, query: str, *args: Any, begin: bool = False) -> list[asyncpg.Record]:
    return await _run(conn, "fetch", query, args, begin)


async def fetchrow(conn: AsyncConnection, query: str, *args: Any, begin: bool = False) -> asyncpg.Record | None:
    return await _run(conn, "fetchrow", query, args, begin)


async def fetchval(conn: AsyncConnection, query: str, *args: Any, begin: bool = False) -> Any:
    return await _run(conn, "fetchval", query, args, begin)


async def execute(conn: AsyncConnection, query: str, *args: Any, begin: bool = False) -> str:
    return await _run(conn, "execute", query, args, begin)


# Every queue statement (event relay, push worker) looks up at most a batch of rows by key in a
# table whose statistics lag its churn; left to them, the planner (prepared statements: generic
# plans) came to scan the whole table on every pass. Plain index scans and nested loops only; plain
# index scans also mark the entries of dead row versions dead on the way (migration 0009), where
# bitmap scans would read them every time.
LOOKUPS_ONLY = {"enable_seqscan": "off", "enable_bitmapscan": "off",
                "enable_hashjoin": "off", "enable_mergejoin": "off"}


def plain_dsn(url: str) -> str:
    """asyncpg wants `postgresql://`; settings may name SQLAlchemy's driver."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def queue_connection(database_url: str, application_name: str) -> asyncpg.Connection:
    """A queue worker's own connection (outside the request pool), planner limited to key lookups."""
    return await asyncpg.connect(plain_dsn(database_url), server_settings={
        "application_name": application_name, "statement_timeout": "0", **LOOKUPS_ONLY})
