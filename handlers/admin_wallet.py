"""Admin wallet adjustments (support credits and refunds)."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import services
from schemas.common import UUID_RE, parse_body, path_uuid
from schemas.wallet import AdjustmentCreate, transaction_out
from services import wallet as use_cases

routes = web.RouteTableDef()


@routes.post("/admin/users/{user_id:" + UUID_RE + "}/wallet/adjustments")
@requires(Role.ADMIN)
async def create_adjustment(request: web.Request) -> web.Response:
    body = await parse_body(request, AdjustmentCreate)
    row = await use_cases.adjust(services(request.app), principal(request).id, path_uuid(request, "user_id"),
                                 body["amount"], body["reason"])
    return json_response({**transaction_out(row), "user_id": row["user_id"]}, status=201)
