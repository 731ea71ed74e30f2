"""Device tokens for push: register on app launch / token refresh, deactivate on logout."""
from __future__ import annotations

from aiohttp import web

from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import DEVICES, doc
from gateway.tx import services
from schemas.common import parse_body
from schemas import examples
from schemas.devices import (
    DeactivatedOut, DeviceTokenOut, DeviceTokenRegister, DeviceTokenRemove, device_token_out,
)
from services import devices as use_cases

routes = web.RouteTableDef()


@routes.post("/devices/tokens")
@doc("Register a push device token", tag=DEVICES, body=DeviceTokenRegister, responses={201: DeviceTokenOut},
     description="On app launch and whenever FCM refreshes the token; the same token again updates it.",
     request_example=examples.DEVICE_REGISTER, examples={201: examples.DEVICE_TOKEN})
@requires()
async def register_token(request: web.Request) -> web.Response:
    body = await parse_body(request, DeviceTokenRegister)
    who = principal(request)
    row = await use_cases.register(services(request.app), role=who.role, user_id=who.id, token=body["token"],
                                   platform=body["platform"], app_version=body["app_version"])
    return json_response(device_token_out(row), status=201)


@routes.delete("/devices/tokens")
@doc("Deactivate a device token (logout)", tag=DEVICES, body=DeviceTokenRemove, responses={200: DeactivatedOut},
     request_example={"token": "fcm-registration-token-from-the-app"})
@requires()
async def deactivate_token(request: web.Request) -> web.Response:
    """200 {"deactivated": n}: 1 for the caller's active token, 0 otherwise (idempotent logout)."""
    body = await parse_body(request, DeviceTokenRemove)
    who = principal(request)
    count = await use_cases.deactivate(services(request.app), role=who.role, user_id=who.id, token=body["token"])
    return json_response({"deactivated": count})
