"""Patient profile."""
from __future__ import annotations

from aiohttp import web

from domain.errors import NotFound
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import transaction
from schemas.common import parse_body
from schemas.users import UserUpdateIn, user_out
from storage import users

routes = web.RouteTableDef()


@routes.get("/users/me")
@requires("client")
async def get_me(request: web.Request) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        user = await users.get_user(conn, principal(request).id)
    if user is None:
        raise NotFound("User not found")
    return json_response(user_out(user))


@routes.patch("/users/me")
@requires("client")
async def update_me(request: web.Request) -> web.Response:
    changes = await parse_body(request, UserUpdateIn(), optional=True)
    app = request.app
    async with transaction(app) as conn:
        user = await users.update_profile(conn, principal(request).id, changes, app[keys.CLOCK].now())
    if user is None:
        raise NotFound("User not found")
    return json_response(user_out(user))
