"""Running a statement: SQL text with $n parameters on a pooled asyncpg connection (storage.pool).

asyncpg prepares each text once per connection (its statement cache) and reuses it. A statement on a
connection that is in a transaction joins it. On a connection outside a transaction a statement
commits on its own unless `begin=True`, which opens the transaction first (use it for writes and
row locks: the block commits it, services.context.statements).

Queue workers (the event relay, the push worker) run on a connection of their own instead,
`queue_connection`, with lookup-only planner settings.

Errors: a connection found dead (or the server gone) raises storage.pool.DatabaseUnavailable and
expires the rest of the pool (the API answers 503). Other errors propagate as asyncpg raised them,
with the statement attached (`query`) when asyncpg did not attach it (an argument it could not
encode). asyncpg's errors carry data (the server's DETAIL, a quoted argument), so they reach the log
only as storage.db describes them (`install_log_redaction`): class, SQLSTATE, schema names, the
statement's first words.
"""
from __future__ import annotations

from typing import Any

import asyncpg

from storage.pool import Connection, is_unavailable, plain_dsn


async def _run(conn: Connection, method: str, query: str, args: tuple, begin: bool) -> Any:
    if begin and not conn.in_transaction():
        await conn.begin()
    try:
        return await getattr(conn.raw, method)(query, *args)
    except Exception as exc:
        if is_unavailable(exc):
            raise await conn.lost(exc) from exc
        if isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError)) and getattr(exc, "query", None) is None:
            exc.query = query  # named in the log by its first words, never with its arguments
        raise


async def fetch(conn: Connection, query: str, *args: Any, begin: bool = False) -> list[asyncpg.Record]:
    return await _run(conn, "fetch", query, args, begin)


async def fetchrow(conn: Connection, query: str, *args: Any, begin: bool = False) -> asyncpg.Record | None:
    return await _run(conn, "fetchrow", query, args, begin)


async def fetchval(conn: Connection, query: str, *args: Any, begin: bool = False) -> Any:
    return await _run(conn, "fetchval", query, args, begin)


async def execute(conn: Connection, query: str, *args: Any, begin: bool = False) -> str:
    return await _run(conn, "execute", query, args, begin)


# Every queue statement (event relay, push worker) looks up at most a batch of rows by key in a
# table whose statistics lag its churn; left to them, the planner (prepared statements: generic
# plans) came to scan the whole table on every pass. Plain index scans and nested loops only; plain
# index scans also mark the entries of dead row versions dead on the way (migration 0009), where
# bitmap scans would read them every time.
LOOKUPS_ONLY = {"enable_seqscan": "off", "enable_bitmapscan": "off",
                "enable_hashjoin": "off", "enable_mergejoin": "off"}


async def queue_connection(database_url: str, application_name: str) -> asyncpg.Connection:
    """A queue worker's own connection (outside the request pool), planner limited to key lookups."""
    return await asyncpg.connect(plain_dsn(database_url), server_settings={
        "application_name": application_name, "statement_timeout": "0", **LOOKUPS_ONLY})
