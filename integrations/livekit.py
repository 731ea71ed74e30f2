"""LiveKit: join tokens and Twirp (egress) calls, behind a small interface."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web


async def livekit_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
