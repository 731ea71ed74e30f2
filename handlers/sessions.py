"""Connect Now v2 sessions: create, requests, detail, accept, reject, end, token."""
from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import billing
from domain import sessions as rules
from domain.errors import Conflict, NotFound
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import statements, transaction
from schemas.common import UUID_RE, parse_body, path_uuid
from schemas.sessions import (SessionCreate, SessionEnd, accepted_out, created_out, detail_out,
                              status_out, token_out)
from storage import sessions as store
from storage.session_access import session_for_participant
from storage.session_requests import pending_requests

routes = web.RouteTableDef()
SESSION = "/connect/sessions/{session_id:" + UUID_RE + "}"
SESSION_CREATE = SessionCreate()  # schemas keep no state between loads; building one costs more than loading


def _join(request: web.Request, session: dict[str, Any]) -> dict[str, Any]:
    who = principal(request)
    token = request.app[keys.LIVEKIT].join_token(session["room_name"], rules.identity(who.role, who.id))
    return token.as_dict()


def _expired() -> Conflict:
    return Conflict("The session request has expired", code="SESSION_EXPIRED")


async def _expire_if_lapsed(conn: AsyncConnection, session: dict[str, Any], now: dt.datetime) -> bool:
    """Write EXPIRED for a request past its expiry the sweeper has not reached yet."""
    if rules.lapsed(session["status"], session["expires_at"], now):
        await store.expire(conn, session["id"], now)
        return True
    return False


@routes.post("/connect/sessions")
@requires("client")
async def create_session(request: web.Request) -> web.Response:
    body = await parse_body(request, SESSION_CREATE)
    app, who = request.app, principal(request)
    settings, now = app[keys.SETTINGS], app[keys.CLOCK].now()
    async with statements(app) as conn:  # two statements, no transaction unless a lapsed request is expired
        context = await store.request_context(conn, who.id, body["target_doctor_id"])
        doctor = context.doctor
        if doctor is None:
            raise NotFound("Doctor not found", code="DOCTOR_NOT_FOUND")
        rules.check_profile_complete(context.patient)
        rules.check_doctor_available(doctor)
        active = context.active
        if active and not await _expire_if_lapsed(conn, active, now):
            rules.check_no_active_session(active["status"])
        billing.check_can_prepay(context.balance, doctor["rate_per_minute"], settings.session_min_prepaid_minutes)
        session = await store.insert_request(conn, patient=context.patient, doctor=doctor, details=body,
                                             now=now, ttl_seconds=settings.session_request_ttl)
    return json_response(created_out(session, _join(request, session)), status=201)


@routes.get("/connect/sessions/requests")
@requires("doctor")
async def list_requests(request: web.Request) -> web.Response:
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB].connect() as conn:
        items = await pending_requests(conn, principal(request).id)
    items = [item for item in items if item["expires_at"] > now]
    return json_response({"items": items, "total": len(items)})


@routes.get(SESSION)
@requires("client", "doctor")
async def get_session(request: web.Request) -> web.Response:
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
        patient = await store.patient(conn, session["patient_id"])
    return json_response(detail_out(session, patient))


@routes.post(SESSION + "/accept")
@requires("doctor")
async def accept_session(request: web.Request) -> web.Response:
    app, who = request.app, principal(request)
    session_id, now = path_uuid(request, "session_id"), app[keys.CLOCK].now()
    async with transaction(app) as conn:
        session = await session_for_participant(conn, session_id, who.role, who.id, lock=True)
        expired = await _expire_if_lapsed(conn, session, now)
        if not expired:
            rules.check_answerable(session["status"])
            session = await store.accept(conn, session_id, now)
    if expired:
        raise _expired()
    return json_response(accepted_out(session, _join(request, session)))


@routes.post(SESSION + "/reject")
@requires("doctor")
async def reject_session(request: web.Request) -> web.Response:
    app, who = request.app, principal(request)
    session_id, now = path_uuid(request, "session_id"), app[keys.CLOCK].now()
    async with transaction(app) as conn:
        session = await session_for_participant(conn, session_id, who.role, who.id, lock=True)
        expired = await _expire_if_lapsed(conn, session, now)
        if not expired:
            rules.check_answerable(session["status"])
            session = await store.reject(conn, session_id, now)
    if expired:
        raise _expired()
    return json_response(status_out(session))


@routes.post(SESSION + "/end")
@requires("client", "doctor")
async def end_session(request: web.Request) -> web.Response:
    body = await parse_body(request, SessionEnd(), optional=True)
    app, who = request.app, principal(request)
    session_id, now = path_uuid(request, "session_id"), app[keys.CLOCK].now()
    reason, note = body.get("reason") or None, body.get("note") or None
    async with transaction(app) as conn:
        session = await session_for_participant(conn, session_id, who.role, who.id, lock=True)
        expired = await _expire_if_lapsed(conn, session, now)
        if not expired:
            if rules.end_outcome(who.role, session["status"]) == rules.CANCEL:
                session = await store.cancel(conn, session_id, now, reason=reason, note=note)
            else:
                session = await store.end_ongoing(conn, session_id, now, reason=reason, note=note,
                                                  ended_by=rules.PARTY_BY_ROLE[who.role])
    if expired:
        raise _expired()
    return json_response(status_out(session))


@routes.get(SESSION + "/token")
@requires("client", "doctor")
async def session_token(request: web.Request) -> web.Response:
    app, who = request.app, principal(request)
    async with app[keys.DB].connect() as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
    status = rules.effective_status(session["status"], session["expires_at"], app[keys.CLOCK].now())
    rules.check_token(who.role, status)
    return json_response(token_out(session, _join(request, session)))
