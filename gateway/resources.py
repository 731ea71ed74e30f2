"""Outside services on the app: each built from the settings in its cleanup context, closed after."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web

from gateway import keys
from integrations.cashfree import create_payment_gateway
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


async def payments_ctx(app: web.Application) -> AsyncIterator[None]:
    from gateway.app import API_PREFIX  # the local checkout page is an API route
    settings = app[keys.SETTINGS]
    gateway = create_payment_gateway(settings, settings.base_url + API_PREFIX + "/payments/local/checkout")
    app[keys.PAYMENTS] = gateway
    yield
    await gateway.close()


async def blobs_ctx(app: web.Application) -> AsyncIterator[None]:
    store = create_store(app[keys.SETTINGS], app[keys.CLOCK])
    await store.start()
    app[keys.BLOBS] = store
    yield
    await store.close()


def blob_store(app: web.Application) -> BlobStore:
    return app[keys.BLOBS]
