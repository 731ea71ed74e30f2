"""Liveness and readiness probes (outside /api/v2)."""
from __future__ import annotations

import asyncio

from aiohttp import web

from gateway import keys
from gateway.jsonutil import json_response
from gateway.openapi import VERSION
from gateway.openapi_doc import OPERATIONS, PUBLIC, Reply, doc
from handlers import docs
from schemas.out import HealthOut, IndexOut, ReadyOut
from storage import driver

UNPREFIXED = True
routes = web.RouteTableDef()
_PING = "SELECT 1"


INDEX = {"name": "Allign API v2", "version": VERSION, "docs": docs.DOCS, "openapi": docs.OPENAPI_JSON,
         "realtime_docs": docs.REALTIME, "asyncapi": docs.ASYNCAPI_JSON, "api": "/api/v2", "health": "/healthz",
         "ready": "/readyz"}


@routes.get("/")
@doc("Where things are: the docs, the documents, the probes", tag=OPERATIONS, auth=PUBLIC,
     responses={200: IndexOut}, examples={200: INDEX})
async def index(request: web.Request) -> web.Response:
    return json_response(INDEX)


@routes.get("/healthz")
@doc("Liveness: the process is up", tag=OPERATIONS, auth=PUBLIC, responses={200: HealthOut})
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _check_db(app: web.Application) -> None:
    async with app[keys.DB].connect() as conn:
        await driver.fetchval(conn, _PING)


async def _check_redis(app: web.Application) -> None:
    await app[keys.REDIS].ping()


@routes.get("/readyz")
@doc("Readiness: the database and Redis are reachable", tag=OPERATIONS, auth=PUBLIC,
     responses={200: ReadyOut, 503: Reply("Not ready: which check failed", ReadyOut)})
async def readyz(request: web.Request) -> web.Response:
    checks = {}
    for name, check in (("database", _check_db), ("redis", _check_redis)):
        try:
            async with asyncio.timeout(2):
                await check(request.app)
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; the reason is for operators
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return json_response({"status": "ok" if ready else "unavailable", "checks": checks},
                         status=200 if ready else 503)
