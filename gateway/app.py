"""Application assembly: resources in cleanup_ctx, middlewares, routes under /api/v2."""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

from aiohttp import web
from prometheus_client import Gauge

import handlers
from common.clock import Clock
from config import Settings
from gateway import cors, keys, protocol_errors
from gateway.metrics import Metrics, metrics_handler
from gateway.middlewares import gateway_middleware, secure_response
from gateway.ratelimit import FALLBACK, FallbackLimiter
from gateway.startup import STARTUP, DeferredStartup, Step
from gateway.tx import wake_relays
from services.context import Context, Database
from storage.pool import Pool
from storage.redis import breaker_of, close_redis, create_redis

log = logging.getLogger("allign")
API_PREFIX = "/api/v2"
MIDDLEWARES = [gateway_middleware]


async def storage_ctx(app: web.Application) -> AsyncIterator[None]:
    """The pool and the Redis client; migrations and the bootstrap admin now, or, while PostgreSQL is
    unreachable, in the background (gateway.startup: the server starts and answers 503 meanwhile)."""
    from storage.bootstrap import ensure_bootstrap_admin
    settings = app[keys.SETTINGS]
    app[keys.DB] = Pool(settings.database_url, settings.db_pool_size, settings.db_pool_timeout_ms / 1000)
    app[keys.REDIS] = create_redis(settings.redis_url)
    breaker = breaker_of(app[keys.REDIS])
    Gauge("allign_redis_circuit_open", "1 while Redis is considered down (tried again only by a probe)",
          registry=app[keys.METRICS].registry).set_function(lambda: float(breaker is not None and breaker.is_open))
    app[FALLBACK] = FallbackLimiter(settings.workers)
    app[keys.CONTEXT] = Context(Database(app[keys.DB], wake_relays(app)), app[keys.CLOCK], settings)
    startup = app[STARTUP] = DeferredStartup(app)
    if settings.apply_migrations:
        from storage.migrate import upgrade

        async def migrate() -> None:
            await asyncio.get_running_loop().run_in_executor(None, upgrade, settings.database_url)
        await startup.run(Step("migrations", migrate, holds=True))
    await startup.run(Step("bootstrap admin", lambda: ensure_bootstrap_admin(app[keys.DB], settings)))
    try:
        yield
    finally:
        await startup.stop()
        await close_redis(app[keys.REDIS])
        await app[keys.DB].dispose()


def _cleanup_contexts():
    # Order matters: storage first, then outside services, then what publishes and consumes.
    from gateway.auth import revocation_view_ctx
    from gateway.bus import bus_ctx
    from gateway.jobs import jobs_ctx
    from gateway.push_worker import push_ctx
    from gateway.resources import blobs_ctx, livekit_ctx, payments_ctx, sms_ctx
    from gateway.seed import demo_seed_ctx
    return [storage_ctx, revocation_view_ctx, sms_ctx, livekit_ctx, blobs_ctx, payments_ctx, push_ctx, bus_ctx,
            demo_seed_ctx, jobs_ctx]


async def _run_shutdown_hooks(app: web.Application) -> None:
    for hook in list(app[keys.SHUTDOWN_HOOKS]):
        try:
            await hook()
        except Exception:
            log.exception("shutdown hook failed")


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(
        middlewares=MIDDLEWARES,
        client_max_size=settings.max_body_bytes,
    )
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock or Clock()
    app[keys.METRICS] = Metrics()
    app[keys.SHUTDOWN_HOOKS] = []
    app.on_shutdown.append(_run_shutdown_hooks)
    app.cleanup_ctx.extend(_cleanup_contexts())
    app.router.add_get("/metrics", metrics_handler)
    for module in handlers.MODULES:
        prefix = "" if getattr(module, "UNPREFIXED", False) else API_PREFIX
        for route in module.routes:
            app.router.add_route(route.method, prefix + route.path, route.handler, **route.kwargs)
    # After every route: CORS covers the whole router. Security headers reach streams and websocket
    # handshakes too (a response hook, where the middleware cannot); protocol errors answer in JSON.
    cors.setup(app, settings.cors_allowed_origins)
    app.on_response_prepare.append(secure_response)
    protocol_errors.install(app)
    return app
