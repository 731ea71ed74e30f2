"""Video permission (doctor allows, patient consents) and call sessions of a connect session."""
from __future__ import annotations

from aiohttp import web

from domain import video_permission as rules
from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import VIDEO, doc
from gateway.tx import services
from schemas.common import UUID_RE, parse_body, path_uuid
from schemas import examples
from schemas.video import (
    CallSessionCreate, CallSessionOut, VideoPermissionOut, VideoToggle, call_session_out, permission_out,
)
from services import video as use_cases
from services.context import Caller
from storage.session_access import session_for_participant

routes = web.RouteTableDef()
PERMISSION = "/connect/sessions/{session_id:" + UUID_RE + "}/video-permission"


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who.role, who.id)


@routes.get(PERMISSION)
@doc("The patient's video permission", tag=VIDEO, responses={200: VideoPermissionOut}, errors=(404,),
     examples={200: examples.VIDEO_PERMISSION})
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
@doc("Allow the patient's video (doctor)", tag=VIDEO, responses={200: VideoPermissionOut}, errors=(404, 409),
     description="NOT_ALLOWED or DECLINED_BY_PATIENT → ALLOWED_BY_DOCTOR, consent_round + 1; other states: 409 "
     "INVALID_TRANSITION.")
@requires(Role.DOCTOR)
async def allow(request: web.Request) -> web.Response:
    return await _change(request, rules.ALLOW)


@routes.post(PERMISSION + "/accept")
@doc("Turn video on (patient consents)", tag=VIDEO, responses={200: VideoPermissionOut}, errors=(404, 409),
     description="ALLOWED_BY_DOCTOR → VIDEO_ON.")
@requires(Role.CLIENT)
async def accept(request: web.Request) -> web.Response:
    return await _change(request, rules.ACCEPT)


@routes.post(PERMISSION + "/decline")
@doc("Decline video (patient)", tag=VIDEO, responses={200: VideoPermissionOut}, errors=(404, 409),
     description="ALLOWED_BY_DOCTOR → DECLINED_BY_PATIENT.")
@requires(Role.CLIENT)
async def decline(request: web.Request) -> web.Response:
    return await _change(request, rules.DECLINE)


@routes.post(PERMISSION + "/toggle")
@doc("Switch video on or off (patient)", tag=VIDEO, body=VideoToggle, responses={200: VideoPermissionOut},
     errors=(404, 409), description="VIDEO_ON ⇄ VIDEO_OFF.", request_example={"enabled": False})
@requires(Role.CLIENT)
async def toggle(request: web.Request) -> web.Response:
    body = await parse_body(request, VideoToggle)
    return await _change(request, rules.toggle_action(body["enabled"]))


@routes.post(PERMISSION + "/revoke")
@doc("Revoke the video permission", tag=VIDEO, responses={200: VideoPermissionOut}, errors=(404, 409),
     description="ALLOWED_BY_DOCTOR / VIDEO_ON / VIDEO_OFF → NOT_ALLOWED.")
@requires(Role.CLIENT, Role.DOCTOR)
async def revoke(request: web.Request) -> web.Response:
    return await _change(request, rules.REVOKE)


@routes.post("/connect/call-sessions")
@doc("Open the session's call (idempotent per room)", tag=VIDEO, body=CallSessionCreate,
     responses={201: CallSessionOut, 200: CallSessionOut}, errors=(404, 409),
     description="201 for a new call session, 200 with the room's existing one.", request_example=examples.CALL_CREATE,
     examples={201: examples.CALL_SESSION})
@requires(Role.CLIENT, Role.DOCTOR)
async def create_call(request: web.Request) -> web.Response:
    """201 for a new call session, 200 with the room's existing one."""
    body = await parse_body(request, CallSessionCreate)
    opened = await use_cases.open_call(services(request.app), _caller(request), body["connect_session_id"],
                                       body["call_type"])
    return json_response(call_session_out(opened.call, opened.session), status=201 if opened.created else 200)


@routes.get("/connect/call-sessions/{call_id:" + UUID_RE + "}")
@doc("A call session", tag=VIDEO, responses={200: CallSessionOut}, errors=(404,))
@requires(Role.CLIENT, Role.DOCTOR)
async def get_call(request: web.Request) -> web.Response:
    found = await use_cases.call(services(request.app), _caller(request), path_uuid(request, "call_id"))
    return json_response(call_session_out(found.call, found.session))
