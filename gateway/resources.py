"""Outside services on the app: each built from the settings in its cleanup context, closed after."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web

from gateway import keys
from integrations.livekit import LiveKit
from integrations.sms import create_sms_provider
from storage.blobs import BlobStore, create_store


async def livekit_ctx(app: web.Application) -> AsyncIterator[None]:
    app[keys.LIVEKIT] = LiveKit.from_settings(app[keys.SETTINGS])
    yield


async def sms_ctx(app: web.Application) -> AsyncIterator[None]:
    provider = create_sms_provider(app[keys.SETTINGS])
    app[keys.SMS] = provider
    yield
    await provider.close()


async def blobs_ctx(app: web.Application) -> AsyncIterator[None]:
    store = create_store(app[keys.SETTINGS], app[keys.CLOCK])
    await store.start()
    app[keys.BLOBS] = store
    yield
    await store.close()


def blob_store(app: web.Application) -> BlobStore:
    return app[keys.BLOBS]
