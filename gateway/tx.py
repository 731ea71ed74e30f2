"""`transaction(app)`: one database transaction; after it commits, wake whoever relays its outbox rows."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway import keys
from storage.events import EVENTS_PENDING, PUSH_PENDING


@contextlib.asynccontextmanager
async def transaction(app: web.Application) -> AsyncIterator[AsyncConnection]:
    async with app[keys.DB].begin() as conn:
        # `info` belongs to the pooled DBAPI connection: clear what a previous checkout left.
        conn.info.pop(EVENTS_PENDING, None)
        conn.info.pop(PUSH_PENDING, None)
        yield conn
        events = conn.info.pop(EVENTS_PENDING, False)
        pushes = conn.info.pop(PUSH_PENDING, False)
    # Committed. Waking is an optimisation: both relays also poll, so nothing is lost if this is skipped.
    if events and keys.BUS in app:
        app[keys.BUS].wake()
    if pushes and keys.PUSH in app:
        app[keys.PUSH].wake()
