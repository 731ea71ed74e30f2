"""Blob storage: Azure (SAS) and local disk (HMAC-signed URLs) behind one interface."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web


async def blobs_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
