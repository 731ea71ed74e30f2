"""Device tokens for push: register on app launch / token refresh, deactivate on logout."""
from __future__ import annotations

from aiohttp import web

from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import transaction
from schemas.common import parse_body
from schemas.devices import DeviceTokenRegister, DeviceTokenRemove, device_token_out
from storage import devices

routes = web.RouteTableDef()


@routes.post("/devices/tokens")
@requires()
async def register_token(request: web.Request) -> web.Response:
    body = await parse_body(request, DeviceTokenRegister())
    who = principal(request)
    async with transaction(request.app) as conn:
        row = await devices.register(conn, token=body["token"], user_id=who.id, role=who.role,
                                     platform=body["platform"], app_version=body["app_version"],
                                     now=request.app[keys.CLOCK].now())
    return json_response(device_token_out(row), status=201)


@routes.delete("/devices/tokens")
@requires()
async def deactivate_token(request: web.Request) -> web.Response:
    """200 {"deactivated": n}: 1 for the caller's active token, 0 otherwise (idempotent logout)."""
    body = await parse_body(request, DeviceTokenRemove())
    who = principal(request)
    async with transaction(request.app) as conn:
        count = await devices.deactivate_own(conn, token=body["token"], user_id=who.id, role=who.role,
                                             now=request.app[keys.CLOCK].now())
    return json_response({"deactivated": count})
