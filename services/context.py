"""What every use case runs with, and its transactions.

A use case takes a `Context` (built once per app by the gateway) and opens its own transaction
with `transaction(ctx)`: one database transaction; after it commits, the event relay and the push
worker are woken for the outbox rows it wrote (`storage.events`). `statements(ctx)` is the same for
hot writes built as single atomic statements (storage.driver), which commit on their own without
BEGIN/COMMIT round trips. `reading(ctx)` is a connection for reads: each statement on it runs alone,
no transaction around it.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import AsyncIterator, Callable


from common.clock import Clock
from config import Settings
from domain.roles import Role
from storage.events import EVENTS_PENDING, PUSH_PENDING
from storage.pool import Connection, Pool

# Called after a commit that wrote outbox rows: (events written, pushes written). Waking is an
# optimisation: both relays also poll, so nothing is lost if a wake-up is skipped.
Wake = Callable[[bool, bool], None]


def _no_wake(events: bool, pushes: bool) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks for a use case: the token's role and subject (authenticated by the gateway)."""
    role: Role | str
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Database:
    """The pool, and whom to wake after a commit that wrote outbox rows."""
    engine: Pool
    wake: Wake = _no_wake


@dataclass(frozen=True, slots=True)
class Context:
    database: Database
    clock: Clock
    settings: Settings

    def now(self) -> dt.datetime:
        return self.clock.now()


def _database(scope: Context | Database) -> Database:
    return scope.database if isinstance(scope, Context) else scope


def _take_pending(conn: Connection) -> tuple[bool, bool]:
    return bool(conn.info.pop(EVENTS_PENDING, False)), bool(conn.info.pop(PUSH_PENDING, False))


@contextlib.asynccontextmanager
async def transaction(scope: Context | Database) -> AsyncIterator[Connection]:
    database = _database(scope)
    async with database.engine.begin() as conn:
        yield conn
        pending = _take_pending(conn)
    database.wake(*pending)  # committed


@contextlib.asynccontextmanager
async def statements(scope: Context | Database) -> AsyncIterator[Connection]:
    """A connection outside a transaction: each storage.driver statement commits on its own.

    Anything that begins a transaction on it (`driver.execute(..., begin=True)`, `conn.begin()`)
    keeps it open until the end of the block, where it commits (rolled back on error).
    """
    database = _database(scope)
    async with database.engine.connect() as conn:
        yield conn
        if conn.in_transaction():
            await conn.commit()
        pending = _take_pending(conn)
    database.wake(*pending)


@contextlib.asynccontextmanager
async def reading(scope: Context | Database) -> AsyncIterator[Connection]:
    async with _database(scope).engine.connect() as conn:
        yield conn
