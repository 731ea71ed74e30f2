"""The local checkout (local payment mode only: no Cashfree credentials, never in production).

`POST /payments/cashfree/orders` hands out `checkout_url` = this page with an HMAC signature of the
order id (integrations.cashfree.LocalPaymentGateway). The page shows the order and two buttons; each
posts back here and settles the order through the very use case a verified Cashfree webhook runs
(services.payments.apply_webhook with PAYMENT_SUCCESS_WEBHOOK / PAYMENT_FAILED_WEBHOOK), so a mobile
developer can run a whole recharge against `make run`. Outside local mode every path here is 404; a
missing or wrong signature is 403.
"""
from __future__ import annotations

import html
import uuid

from aiohttp import web

from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.money import FAILED, PENDING, rupees
from gateway import keys
from gateway.openapi_doc import MONEY, SIGNED, Body, Reply, doc, query_param
from gateway.tx import services
from integrations.cashfree import PAYMENT_FAILED, PAYMENT_SUCCESS, LocalPaymentGateway, WebhookEvent
from schemas.payments import ORDER_ID_RE
from services import payments as use_cases

routes = web.RouteTableDef()
CHECKOUT = "/payments/local/checkout/{order_id:" + ORDER_ID_RE + "}"
SIGNATURE = (query_param("sig", "HMAC signature of the order id", required=True),)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Allign local checkout</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}
button{{font-size:1.1rem;padding:.6rem 1.4rem;margin-right:.6rem}}.note{{color:#666;font-size:.9rem}}</style>
</head><body>
<h1>Local checkout</h1>
<p class="note">Local payment mode: no money moves. The buttons settle the order like Cashfree's webhook.</p>
<dl><dt>Order</dt><dd id="order-id">{order_id}</dd>
<dt>Amount</dt><dd id="amount">{amount}</dd><dt>Bonus</dt><dd id="bonus">{bonus}</dd>
<dt>Status</dt><dd id="status">{status}</dd></dl>
{actions}
</body></html>
"""
_BUTTON = '<button type="submit" name="action" value="{value}">{label}</button>'


def _gateway(request: web.Request) -> LocalPaymentGateway:
    gateway = request.app.get(keys.PAYMENTS)
    if not isinstance(gateway, LocalPaymentGateway):
        raise NotFound()
    return gateway


def _signed_order_id(request: web.Request, gateway: LocalPaymentGateway) -> str:
    order_id = request.match_info["order_id"]
    if not gateway.signature_ok(order_id, request.query.get("sig", "")):
        raise Forbidden("Invalid checkout signature", code="INVALID_SIGNATURE")
    return order_id


async def _local_order(request: web.Request, order_id: str) -> dict:
    order = await use_cases.get_order(services(request.app), order_id)
    if order["provider"] != LocalPaymentGateway.name:
        raise NotFound("Order not found", code="ORDER_NOT_FOUND")
    return order


@routes.get(CHECKOUT)
@doc("Local checkout page (local payment mode only)", tag=MONEY, auth=SIGNED, parameters=SIGNATURE,
     responses={200: Reply("An HTML page with Pay / Fail buttons", schema={"type": "string"}, content_type="text/html")},
     errors=(403, 404), description="The `checkout_url` of an order in local payment mode (404 otherwise).")
async def checkout_page(request: web.Request) -> web.Response:
    order_id = _signed_order_id(request, _gateway(request))
    order = await _local_order(request, order_id)
    buttons = []
    if order["status"] in (PENDING, FAILED):
        buttons.append(_BUTTON.format(value="pay", label="Pay"))
    if order["status"] == PENDING:
        buttons.append(_BUTTON.format(value="fail", label="Fail"))
    # The form posts back to this very (signed) URL.
    actions = (f'<form method="post" action="{html.escape(str(request.rel_url))}">'
               + "".join(buttons) + "</form>") if buttons else ""
    body = _PAGE.format(order_id=html.escape(order_id), amount=rupees(order["amount"]),
                        bonus=rupees(order["bonus_amount"]), status=html.escape(order["status"]), actions=actions)
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


@routes.post(CHECKOUT)
@doc("Local checkout: pay or fail the order", tag=MONEY, auth=SIGNED, parameters=SIGNATURE,
     body=Body("application/x-www-form-urlencoded", {"type": "object", "required": ["action"],
                                                     "properties": {"action": {"type": "string", "enum": ["pay", "fail"]}}}),
     responses={303: Reply("Back to the page, which shows the settled order", content_type=None,
                           headers={"Location": "The checkout page"})}, errors=(403, 404))
async def checkout_action(request: web.Request) -> web.Response:
    order_id = _signed_order_id(request, _gateway(request))
    action = (await request.post()).get("action")
    order = await _local_order(request, order_id)
    if action == "pay":
        event = WebhookEvent(PAYMENT_SUCCESS, order_id, "SUCCESS", order["amount"], f"local_{uuid.uuid4().hex[:16]}")
    elif action == "fail":
        event = WebhookEvent(PAYMENT_FAILED, order_id, "FAILED")
    else:
        raise ValidationFailed.single("body", "action", "Input should be 'pay' or 'fail'", "enum")
    await use_cases.apply_webhook(services(request.app), event)
    # Post/redirect/get: the page, reloaded, shows the settled order.
    raise web.HTTPSeeOther(request.rel_url)
