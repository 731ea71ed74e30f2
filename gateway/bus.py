"""Event bus (Redis-backed, history, resume after id); see issue 4."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web


async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
