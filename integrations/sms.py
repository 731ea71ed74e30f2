"""SMS delivery of OTP codes: a local provider that logs, an HTTP gateway provider."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web


async def sms_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
