"""`transaction(app)`: one database transaction; after it commits, wake whoever relays its outbox rows.

`statements(app)`: a connection for hot writes built as single atomic statements (see storage.driver),
which commit on their own without BEGIN/COMMIT round trips; wakes the relays the same way.
"""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway import keys
from storage.events import EVENTS_PENDING, PUSH_PENDING


def _wake(app: web.Application, events: bool, pushes: bool) -> None:
    # Waking is an optimisation: both relays also poll, so nothing is lost if this is skipped.
    if events and keys.BUS in app:
        app[keys.BUS].wake()
    if pushes and keys.PUSH in app:
        app[keys.PUSH].wake()


@contextlib.asynccontextmanager
async def transaction(app: web.Application) -> AsyncIterator[AsyncConnection]:
    async with app[keys.DB].begin() as conn:
        # `info` belongs to the pooled DBAPI connection: clear what a previous checkout left.
        conn.info.pop(EVENTS_PENDING, None)
        conn.info.pop(PUSH_PENDING, None)
        yield conn
        events = conn.info.pop(EVENTS_PENDING, False)
        pushes = conn.info.pop(PUSH_PENDING, False)
    _wake(app, events, pushes)  # committed


@contextlib.asynccontextmanager
async def statements(app: web.Application) -> AsyncIterator[AsyncConnection]:
    """A connection outside a transaction: each storage.driver statement commits on its own.

    Anything that begins a transaction on it (a SQLAlchemy statement, `driver(..., begin=True)`,
    `conn.begin()`) keeps it open until the end of the block, where it commits (rolled back on error).
    """
    async with app[keys.DB].connect() as conn:
        conn.info.pop(EVENTS_PENDING, None)
        conn.info.pop(PUSH_PENDING, None)
        yield conn
        if conn.in_transaction():
            await conn.commit()
        events = conn.info.pop(EVENTS_PENDING, False)
        pushes = conn.info.pop(PUSH_PENDING, False)
    _wake(app, events, pushes)
