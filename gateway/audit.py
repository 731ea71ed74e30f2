"""Who is acting, for the audit log: the authenticated admin, the request id and the client IP."""
from __future__ import annotations

from aiohttp import web

from gateway.auth import principal
from gateway.middlewares import REQUEST_ID
from services.audit import Actor


def actor(request: web.Request) -> Actor:
    who = principal(request)
    return Actor(id=who.id, role=str(who.role), request_id=request.get(REQUEST_ID), ip=request.remote)
