"""The anchor of bench/rest.py: the least an aiohttp + asyncpg server can do for the same work.

GET /anchor/users/{id}: read the same `users` row the API's GET /users/me reads, as JSON.
PATCH /anchor/users/{id}: update that row's name and return it (PATCH /users/me's anchor).

    python bench/anchor_server.py DSN PORT
"""
from __future__ import annotations

import asyncio
import sys
import uuid

import asyncpg
import orjson
import uvloop
from aiohttp import web

_READ = "SELECT id, phone, full_name, email, age, sex, height_cm, weight_kg, created_at FROM users WHERE id = $1"
_UPDATE = ("UPDATE users SET full_name = $2, updated_at = now() WHERE id = $1 "
           "RETURNING id, phone, full_name, email, age, sex, height_cm, weight_kg, created_at")


def _json(row) -> web.Response:
    return web.Response(body=orjson.dumps(dict(row), default=str), content_type="application/json")


async def main(dsn: str, port: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)

    async def read(request: web.Request) -> web.Response:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(_READ, uuid.UUID(request.match_info["id"]))
        return _json(row)

    async def update(request: web.Request) -> web.Response:
        body = await request.json()
        async with pool.acquire() as conn:
            row = await conn.fetchrow(_UPDATE, uuid.UUID(request.match_info["id"]), body["full_name"])
        return _json(row)

    app = web.Application()
    app.router.add_get("/anchor/users/{id}", read)
    app.router.add_patch("/anchor/users/{id}", update)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("anchor ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], int(sys.argv[2])))
