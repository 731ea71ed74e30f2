"""Video permission (doctor allows, patient consents) and call sessions of a connect session."""
from __future__ import annotations

from aiohttp import web

from domain import video_permission as rules
from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import services
from schemas.common import UUID_RE, parse_body, path_uuid
from schemas.video import CallSessionCreate, VideoToggle, call_session_out, permission_out
from services import video as use_cases
from services.context import Caller
from storage.session_access import session_for_participant

routes = web.RouteTableDef()
PERMISSION = "/connect/sessions/{session_id:" + UUID_RE + "}/video-permission"


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who.role, who.id)


@routes.get(PERMISSION)
@requires(Role.CLIENT, Role.DOCTOR)
async def get_permission(request: web.Request) -> web.Response:
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
    return json_response(permission_out(session))


async def _change(request: web.Request, action: str) -> web.Response:
    session = await use_cases.change_permission(services(request.app), _caller(request),
                                                path_uuid(request, "session_id"), action)
    return json_response(permission_out(session))


@routes.post(PERMISSION + "/allow")
@requires(Role.DOCTOR)
async def allow(request: web.Request) -> web.Response:
    return await _change(request, rules.ALLOW)


@routes.post(PERMISSION + "/accept")
@requires(Role.CLIENT)
async def accept(request: web.Request) -> web.Response:
    return await _change(request, rules.ACCEPT)


@routes.post(PERMISSION + "/decline")
@requires(Role.CLIENT)
async def decline(request: web.Request) -> web.Response:
    return await _change(request, rules.DECLINE)


@routes.post(PERMISSION + "/toggle")
@requires(Role.CLIENT)
async def toggle(request: web.Request) -> web.Response:
    body = await parse_body(request, VideoToggle)
    return await _change(request, rules.toggle_action(body["enabled"]))


@routes.post(PERMISSION + "/revoke")
@requires(Role.CLIENT, Role.DOCTOR)
async def revoke(request: web.Request) -> web.Response:
    return await _change(request, rules.REVOKE)


@routes.post("/connect/call-sessions")
@requires(Role.CLIENT, Role.DOCTOR)
async def create_call(request: web.Request) -> web.Response:
    """201 for a new call session, 200 with the room's existing one."""
    body = await parse_body(request, CallSessionCreate)
    opened = await use_cases.open_call(services(request.app), _caller(request), body["connect_session_id"],
                                       body["call_type"])
    return json_response(call_session_out(opened.call, opened.session), status=201 if opened.created else 200)


@routes.get("/connect/call-sessions/{call_id:" + UUID_RE + "}")
@requires(Role.CLIENT, Role.DOCTOR)
async def get_call(request: web.Request) -> web.Response:
    found = await use_cases.call(services(request.app), _caller(request), path_uuid(request, "call_id"))
    return json_response(call_session_out(found.call, found.session))
