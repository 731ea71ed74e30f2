"""Connect Now v2 sessions: create, requests, detail, accept, reject, end, token."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from domain import sessions as rules
from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import SESSIONS, doc
from gateway.tx import services
from schemas.common import UUID_RE, parse_body, path_uuid
from schemas import examples
from schemas.sessions import (
    RequestListOut, SessionAcceptedOut, SessionCreate, SessionCreatedOut, SessionDetailOut, SessionEnd, SessionStatusOut,
    SessionTokenOut, accepted_out, created_out, detail_out, status_out, token_out,
)
from services import sessions as use_cases
from services.context import Caller
from storage import sessions as store
from storage.session_access import session_for_participant
from storage.session_requests import pending_requests

routes = web.RouteTableDef()
SESSION = "/connect/sessions/{session_id:" + UUID_RE + "}"
SESSION_CREATE = SessionCreate()  # schemas keep no state between loads; building one costs more than loading


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who.role, who.id)


def _join(request: web.Request, session: dict[str, Any]) -> dict[str, Any]:
    who = principal(request)
    token = request.app[keys.LIVEKIT].join_token(session["room_name"], rules.identity(who.role, who.id))
    return token.as_dict()


@routes.post("/connect/sessions")
@doc("Request a consultation with a doctor", tag=SESSIONS, body=SessionCreate, responses={201: SessionCreatedOut},
     errors=(400, 404, 409), description="409 PROFILE_INCOMPLETE (sex and age unset), DOCTOR_UNAVAILABLE, "
     "SESSION_ALREADY_ACTIVE; 400 INSUFFICIENT_BALANCE (the wallet cannot pay 5 minutes). Bills at the doctor's "
     "rate. The doctor's stream gets `session_requested`.", request_example=examples.SESSION_CREATE,
     examples={201: examples.SESSION_CREATED})
@requires(Role.CLIENT)
async def create_session(request: web.Request) -> web.Response:
    body = await parse_body(request, SESSION_CREATE)
    session = await use_cases.request(services(request.app), principal(request).id, body)
    return json_response(created_out(session, _join(request, session)), status=201)


@routes.get("/connect/sessions/requests")
@doc("The doctor's pending requests, oldest first", tag=SESSIONS, responses={200: RequestListOut},
     examples={200: examples.REQUESTS})
@requires(Role.DOCTOR)
async def list_requests(request: web.Request) -> web.Response:
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB].connect() as conn:
        items = await pending_requests(conn, principal(request).id)
    items = [item for item in items if item["expires_at"] > now]
    return json_response({"items": items, "total": len(items)})


@routes.get(SESSION)
@doc("A session, with its patient preview", tag=SESSIONS, responses={200: SessionDetailOut}, errors=(404,),
     examples={200: examples.SESSION_DETAIL})
@requires(Role.CLIENT, Role.DOCTOR)
async def get_session(request: web.Request) -> web.Response:
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
        patient = await store.patient(conn, session["patient_id"])
    return json_response(detail_out(session, patient))


@routes.post(SESSION + "/accept")
@doc("Accept a request (→ ONGOING)", tag=SESSIONS, responses={200: SessionAcceptedOut}, errors=(404, 409),
     description="Only the target doctor, only from REQUESTED (409 otherwise); of concurrent accepts exactly one wins.",
     examples={200: examples.SESSION_ACCEPTED})
@requires(Role.DOCTOR)
async def accept_session(request: web.Request) -> web.Response:
    session = await use_cases.accept(services(request.app), _caller(request), path_uuid(request, "session_id"))
    return json_response(accepted_out(session, _join(request, session)))


@routes.post(SESSION + "/reject")
@doc("Reject a request (→ REJECTED)", tag=SESSIONS, responses={200: SessionStatusOut}, errors=(404, 409))
@requires(Role.DOCTOR)
async def reject_session(request: web.Request) -> web.Response:
    session = await use_cases.reject(services(request.app), _caller(request), path_uuid(request, "session_id"))
    return json_response(status_out(session))


@routes.post(SESSION + "/end")
@doc("End (or, as the patient, cancel) a session", tag=SESSIONS, body=SessionEnd, body_required=False,
     responses={200: SessionStatusOut}, errors=(404, 409), description="ONGOING → ENDED, billed from the wallet; "
     "a patient ending a REQUESTED session cancels it. Already ended: 409.", request_example=examples.SESSION_END)
@requires(Role.CLIENT, Role.DOCTOR)
async def end_session(request: web.Request) -> web.Response:
    body = await parse_body(request, SessionEnd, optional=True)
    session = await use_cases.end(services(request.app), _caller(request), path_uuid(request, "session_id"),
                                  reason=body.get("reason") or None, note=body.get("note") or None)
    return json_response(status_out(session))


@routes.get(SESSION + "/token")
@doc("A fresh LiveKit join token", tag=SESSIONS, responses={200: SessionTokenOut}, errors=(404, 409),
     description="409 once the session has ended.")
@requires(Role.CLIENT, Role.DOCTOR)
async def session_token(request: web.Request) -> web.Response:
    app, who = request.app, principal(request)
    async with app[keys.DB].connect() as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
    status = rules.effective_status(session["status"], session["expires_at"], app[keys.CLOCK].now())
    rules.check_token(who.role, status)
    return json_response(token_out(session, _join(request, session)))
