"""Video permission (doctor allows, patient consents) and call sessions of a connect session."""
from __future__ import annotations

from aiohttp import web

from domain import video_permission as rules
from domain.errors import NotFound
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import transaction
from schemas.common import UUID_RE, parse_body, path_uuid
from schemas.video import CallSessionCreate, VideoToggle, call_session_out, permission_out
from storage import video as store
from storage.session_access import session_for_participant

routes = web.RouteTableDef()
PERMISSION = "/connect/sessions/{session_id:" + UUID_RE + "}/video-permission"


@routes.get(PERMISSION)
@requires("client", "doctor")
async def get_permission(request: web.Request) -> web.Response:
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
    return json_response(permission_out(session))


async def _transition(request: web.Request, action: str) -> web.Response:
    who = principal(request)
    async with transaction(request.app) as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
        session = await store.apply(conn, session["id"], action=action, role=who.role,
                                    now=request.app[keys.CLOCK].now())
    return json_response(permission_out(session))


@routes.post(PERMISSION + "/allow")
@requires("doctor")
async def allow(request: web.Request) -> web.Response:
    return await _transition(request, rules.ALLOW)


@routes.post(PERMISSION + "/accept")
@requires("client")
async def accept(request: web.Request) -> web.Response:
    return await _transition(request, rules.ACCEPT)


@routes.post(PERMISSION + "/decline")
@requires("client")
async def decline(request: web.Request) -> web.Response:
    return await _transition(request, rules.DECLINE)


@routes.post(PERMISSION + "/toggle")
@requires("client")
async def toggle(request: web.Request) -> web.Response:
    body = await parse_body(request, VideoToggle())
    return await _transition(request, rules.toggle_action(body["enabled"]))


@routes.post(PERMISSION + "/revoke")
@requires("client", "doctor")
async def revoke(request: web.Request) -> web.Response:
    return await _transition(request, rules.REVOKE)


@routes.post("/connect/call-sessions")
@requires("client", "doctor")
async def create_call(request: web.Request) -> web.Response:
    """201 for a new call session, 200 with the room's existing one."""
    body = await parse_body(request, CallSessionCreate())
    who = principal(request)
    async with transaction(request.app) as conn:
        session = await session_for_participant(conn, body["connect_session_id"], who.role, who.id)
        call, created = await store.open_call(conn, session, call_type=body["call_type"], role=who.role,
                                              subject_id=who.id, now=request.app[keys.CLOCK].now())
    return json_response(call_session_out(call, session), status=201 if created else 200)


@routes.get("/connect/call-sessions/{call_id:" + UUID_RE + "}")
@requires("client", "doctor")
async def get_call(request: web.Request) -> web.Response:
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        call = await store.call_by_id(conn, path_uuid(request, "call_id"))
        if call is None:
            raise NotFound("Call session not found", code="CALL_SESSION_NOT_FOUND")
        try:
            session = await session_for_participant(conn, call["connect_session_id"], who.role, who.id)
        except NotFound:
            raise NotFound("Call session not found", code="CALL_SESSION_NOT_FOUND") from None
    return json_response(call_session_out(call, session))
