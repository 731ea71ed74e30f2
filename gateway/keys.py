"""Typed application keys: every shared resource lives on the app under one of these."""
from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from storage.pool import Pool

from config import Settings
from common.clock import Clock

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
DB = web.AppKey("db", Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
METRICS = web.AppKey("metrics", Any)
# What every use case runs with (services.context.Context): database, clock, settings, relay wake-ups.
CONTEXT = web.AppKey("context", Any)
# Realtime core and outside services; each is an interface with a real and a local implementation.
BUS = web.AppKey("event_bus", Any)            # gateway.bus.EventBus
SMS = web.AppKey("sms", Any)                  # integrations.sms.SmsProvider
LIVEKIT = web.AppKey("livekit", Any)          # integrations.livekit.LiveKit
PUSH = web.AppKey("push", Any)                # gateway.push_worker.PushWorker
BLOBS = web.AppKey("blobs", Any)              # storage.blobs.BlobStore
PAYMENTS = web.AppKey("payments", Any)        # integrations.cashfree.PaymentGateway
STREAMS = web.AppKey("streams", Any)          # gateway.connections.ConnectionRegistry
# Coroutines run on shutdown before in-flight requests are awaited: long-lived streams and
# websockets register their closers here (app.on_shutdown is frozen once the app starts).
SHUTDOWN_HOOKS = web.AppKey("shutdown_hooks", list)
