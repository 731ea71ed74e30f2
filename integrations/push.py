"""Push notifications: outbox rows sent by a worker through FCM (firebase-admin)."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web


async def push_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
