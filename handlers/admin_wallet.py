"""Admin wallet adjustments (support credits and refunds)."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway.audit import actor
from gateway.auth import requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import ADMIN, doc
from gateway.tx import services
from schemas.common import UUID_RE, parse_body, path_uuid
from schemas import examples
from schemas.wallet import AdjustmentCreate, AdjustmentOut, transaction_out
from services import wallet as use_cases

routes = web.RouteTableDef()


@routes.post("/admin/users/{user_id:" + UUID_RE + "}/wallet/adjustments")
@doc("Credit or debit a patient's wallet (support)", tag=ADMIN, body=AdjustmentCreate,
     responses={201: AdjustmentOut}, errors=(400, 404), description="amount in paise, non-zero; negative debits, "
     "never below zero (400).", request_example=examples.ADJUSTMENT)
@requires(Role.ADMIN)
async def create_adjustment(request: web.Request) -> web.Response:
    body = await parse_body(request, AdjustmentCreate)
    row = await use_cases.adjust(services(request.app), actor(request), path_uuid(request, "user_id"),
                                 body["amount"], body["reason"])
    return json_response({**transaction_out(row), "user_id": row["user_id"]}, status=201)
