"""LiveKit webhooks: egress progress marks recordings ACTIVE, COMPLETED (with the file) or FAILED.

The request must carry a token signed with our API secret whose sha256 claim is the body's hash;
anything else is 401. Unknown egresses and other event types are acknowledged and ignored.
"""
from __future__ import annotations

import logging

from aiohttp import web

from domain.errors import Unauthorized
from gateway import keys
from gateway.jsonutil import json_response
from gateway.tx import transaction
from integrations.livekit_egress import WEBHOOK_EVENTS, recording_values, verify_webhook
from storage import files

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.post("/webhooks/livekit")
async def livekit_webhook(request: web.Request) -> web.Response:
    body = await request.text()
    try:
        event = verify_webhook(request.app[keys.SETTINGS], body, request.headers.get("Authorization", ""))
    except Exception:  # the receiver raises plain Exceptions and JWT errors alike
        raise Unauthorized("Invalid webhook signature", code="INVALID_WEBHOOK_SIGNATURE") from None
    if event.event not in WEBHOOK_EVENTS or not event.egress_info.egress_id:
        return json_response({"received": True, "handled": False})
    values = recording_values(event.egress_info)
    now = request.app[keys.CLOCK].now()
    if values["status"] in files.FINAL_RECORDING:
        values["ended_at"] = now
    async with transaction(request.app) as conn:
        row = await files.recording_by_egress(conn, event.egress_info.egress_id, lock=True)
        if row is None:
            log.info("webhook for unknown egress %s ignored", event.egress_info.egress_id)
            return json_response({"received": True, "handled": False})
        if row["status"] == "STOPPING" and values["status"] in files.ACTIVE_RECORDING:
            values["status"] = "STOPPING"  # a late "active" update does not undo a stop
        updated = await files.update_recording(conn, row["id"], only_from=("STARTING", "ACTIVE", "STOPPING"),
                                               now=now, **values)
    return json_response({"received": True, "handled": updated is not None})
