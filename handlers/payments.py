"""Wallet top-ups through Cashfree: create an order, verify it, and Cashfree's webhook.

The webhook is authenticated by its signature alone (x-webhook-signature over the raw body and
x-webhook-timestamp, services below never see an unverified body): a bad signature or a stale
timestamp is 401 and changes nothing; anything verified is acknowledged with 200, acted on or not,
because Cashfree retries every non-2xx answer.
"""
from __future__ import annotations

from aiohttp import web

from domain.errors import Unauthorized
from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import MONEY, SIGNED, Body, doc, header
from gateway.tx import services
from integrations.cashfree import WebhookRejected, parse_webhook
from schemas.common import parse_body
from schemas import examples
from schemas.out import WebhookAckOut
from schemas.payments import (
    ORDER_ID_RE, CreatedOrderOut, OrderCreate, VerifiedOrderOut, created_order_out, verified_order_out,
)
from services import payments as use_cases

routes = web.RouteTableDef()


@routes.post("/payments/cashfree/orders")
@doc("Create a wallet top-up order (Cashfree)", tag=MONEY, body=OrderCreate, responses={201: CreatedOrderOut},
     errors=(400, 404, 409), description="amount ≥ 100 paise, an offer optional (400 OFFER_NOT_APPLICABLE when it "
     "is not active or not for this amount); pay with `payment_session_id` in "
     "Cashfree's SDK (local payment mode: open `checkout_url`). Cashfree unreachable: 503.",
     request_example=examples.ORDER_CREATE)
@requires(Role.CLIENT)
async def create_order(request: web.Request) -> web.Response:
    body = await parse_body(request, OrderCreate)
    row = await use_cases.create_order(services(request.app), request.app[keys.PAYMENTS], principal(request).id,
                                       body["amount"], body["offer_id"])
    return json_response(created_order_out(row), status=201)


@routes.get("/payments/cashfree/orders/{order_id:" + ORDER_ID_RE + "}/verify")
@doc("Verify an order and credit the wallet once paid", tag=MONEY, responses={200: VerifiedOrderOut},
     errors=(404,), description="Asks Cashfree; on PAID the amount and bonus are credited exactly once.")
@requires(Role.CLIENT)
async def verify_order(request: web.Request) -> web.Response:
    row = await use_cases.verify(services(request.app), request.app[keys.PAYMENTS], principal(request).id,
                                 request.match_info["order_id"])
    return json_response(verified_order_out(row))


@routes.post("/payments/cashfree/webhook")
@doc("Cashfree webhook", tag=MONEY, auth=SIGNED,
     body=Body("application/json", {"type": "object"}, "Cashfree's payment webhook"),
     parameters=(header("x-webhook-signature", "Cashfree's signature of timestamp + body"),
                 header("x-webhook-timestamp", "Milliseconds since the epoch")),
     responses={200: WebhookAckOut}, errors=(401,), description="A bad signature or a stale timestamp: 401, "
     "nothing changes; anything verified is acknowledged with 200 (Cashfree retries the rest).")
async def cashfree_webhook(request: web.Request) -> web.Response:
    raw = await request.read()
    ctx = services(request.app)
    try:
        request.app[keys.PAYMENTS].verify_webhook(raw, request.headers.get("x-webhook-timestamp", ""),
                                                  request.headers.get("x-webhook-signature", ""), ctx.now())
    except WebhookRejected:
        raise Unauthorized("Invalid webhook signature", code="INVALID_WEBHOOK_SIGNATURE") from None
    handled = await use_cases.apply_webhook(ctx, parse_webhook(raw))
    return json_response({"received": True, "handled": handled})
