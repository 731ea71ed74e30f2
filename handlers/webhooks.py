"""LiveKit webhooks: egress progress marks recordings ACTIVE, COMPLETED (with the file) or FAILED
(services.recordings.egress_report).

The request must carry a token signed with our API secret whose sha256 claim is the body's hash;
anything else is 401. Unknown egresses and other event types are acknowledged and ignored.
"""
from __future__ import annotations

from aiohttp import web

from domain.errors import Unauthorized
from gateway import keys
from gateway.jsonutil import json_response
from gateway.openapi_doc import FILES, SIGNED, Body, doc, header
from gateway.tx import services
from integrations.livekit_egress import WEBHOOK_EVENTS, verify_webhook
from schemas.out import WebhookAckOut
from services import recordings

routes = web.RouteTableDef()


@routes.post("/webhooks/livekit")
@doc("LiveKit webhook (egress progress)", tag=FILES, auth=SIGNED,
     body=Body("application/webhook+json", {"type": "object"}, "LiveKit's WebhookEvent"),
     parameters=(header("Authorization", "LiveKit's signed token: its sha256 claim is the body's hash"),),
     responses={200: WebhookAckOut}, errors=(401,),
     description="Egress finished: the recording is COMPLETED with its file (or FAILED).")
async def livekit_webhook(request: web.Request) -> web.Response:
    raw = await request.read()
    try:  # a body that is not UTF-8 cannot be what LiveKit signed: refused like a bad signature
        event = verify_webhook(request.app[keys.SETTINGS], raw.decode(), request.headers.get("Authorization", ""))
    except Exception:  # the receiver raises plain Exceptions and JWT errors alike
        raise Unauthorized("Invalid webhook signature", code="INVALID_WEBHOOK_SIGNATURE") from None
    if event.event not in WEBHOOK_EVENTS or not event.egress_info.egress_id:
        return json_response({"received": True, "handled": False})
    handled = await recordings.egress_report(services(request.app), event.egress_info)
    return json_response({"received": True, "handled": handled})
