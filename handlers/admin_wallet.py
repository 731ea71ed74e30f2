"""Admin wallet adjustments (support credits and refunds)."""
from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web

from domain.errors import NotFound
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import transaction
from schemas.common import UUID_RE, parse_body, path_uuid
from schemas.wallet import AdjustmentCreate, transaction_out
from storage import wallet
from storage.tables import users

routes = web.RouteTableDef()


@routes.post("/admin/users/{user_id:" + UUID_RE + "}/wallet/adjustments")
@requires("admin")
async def create_adjustment(request: web.Request) -> web.Response:
    body = await parse_body(request, AdjustmentCreate())
    user_id = path_uuid(request, "user_id")
    async with transaction(request.app) as conn:
        if await conn.scalar(sa.select(users.c.id).where(users.c.id == user_id)) is None:
            raise NotFound("User not found", code="USER_NOT_FOUND")
        row = await wallet.apply_change(conn, user_id, body["amount"], "adjustment",
                                        description=body["reason"], created_by=principal(request).id,
                                        at=request.app[keys.CLOCK].now())
    return json_response({**transaction_out(row), "user_id": row["user_id"]}, status=201)
