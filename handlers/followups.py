"""Follow-ups: the doctor schedules one from a session, both parties read theirs, the patient
responds, the doctor answers a proposed date, either cancels (services.followups)."""
from __future__ import annotations

import uuid

from aiohttp import web

from domain.followups import Action
from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import POST_SESSION, doc
from gateway.tx import services
from schemas.common import UUID_RE, page, parse_body, parse_query, path_uuid
from schemas.followups import (
    CancelIn, FollowupCreate, FollowupOut, FollowupsQuery, RescheduleResponseIn, RespondIn, ScheduleIn, followup_out,
)
from schemas import examples
from schemas.out import page_of
from services import followups as use_cases
from services.context import Caller

routes = web.RouteTableDef()
SESSION_FOLLOWUP = "/connect/sessions/{session_id:" + UUID_RE + "}/followup"
FOLLOWUP = "/followups/{followup_id:" + UUID_RE + "}"
_RESPONSES = {"accept": Action.ACCEPT, "reject": Action.REJECT, "reschedule": Action.RESCHEDULE}


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who.role, who.id)


async def _create(request: web.Request, session_id: uuid.UUID, body: dict) -> web.Response:
    row = await use_cases.create(services(request.app), _caller(request), session_id, body["schedule"])
    return json_response(followup_out(row), status=201)


@routes.post(SESSION_FOLLOWUP)
@doc("Schedule a follow-up of this session (doctor)", tag=POST_SESSION, body=ScheduleIn,
     responses={201: FollowupOut}, errors=(404, 409), description="The date not in the past; → PENDING_PATIENT, "
     "the patient gets `followup.scheduled`.", request_example=examples.SCHEDULE)
@requires(Role.DOCTOR)
async def schedule_for_session(request: web.Request) -> web.Response:
    body = await parse_body(request, ScheduleIn)
    return await _create(request, path_uuid(request, "session_id"), body)


@routes.get(SESSION_FOLLOWUP)
@doc("The session's follow-up", tag=POST_SESSION, responses={200: FollowupOut}, errors=(404,))
@requires(Role.CLIENT, Role.DOCTOR)
async def session_followup(request: web.Request) -> web.Response:
    row = await use_cases.of_session(services(request.app), _caller(request), path_uuid(request, "session_id"))
    return json_response(followup_out(row))


@routes.post("/followups/")
@routes.post("/followups")
@doc("Schedule a follow-up (doctor)", tag=POST_SESSION, body=FollowupCreate, responses={201: FollowupOut},
     errors=(404, 409), description="Of the doctor's own ONGOING or ENDED session.",
     request_example=examples.FOLLOWUP_CREATE)
@requires(Role.DOCTOR)
async def create_followup(request: web.Request) -> web.Response:
    body = await parse_body(request, FollowupCreate)
    return await _create(request, body["parent_session_id"], body)


@routes.get("/followups/")
@routes.get("/followups")
@doc("The caller's follow-ups", tag=POST_SESSION, query=FollowupsQuery, responses={200: page_of(FollowupOut)})
@requires(Role.CLIENT, Role.DOCTOR)
async def list_followups(request: web.Request) -> web.Response:
    query = parse_query(request, FollowupsQuery)
    rows, total = await use_cases.page(services(request.app), _caller(request), status=query["status"],
                                       upcoming=query["upcoming"], past=query["past"], limit=query["limit"],
                                       offset=query["offset"])
    return json_response(page([followup_out(r) for r in rows], total, query["limit"], query["offset"]))


@routes.get(FOLLOWUP)
@doc("A follow-up", tag=POST_SESSION, responses={200: FollowupOut}, errors=(404,))
@requires(Role.CLIENT, Role.DOCTOR)
async def get_followup(request: web.Request) -> web.Response:
    row = await use_cases.get(services(request.app), _caller(request), path_uuid(request, "followup_id"))
    return json_response(followup_out(row))


@routes.post(FOLLOWUP + "/respond")
@doc("Respond to a follow-up (patient)", tag=POST_SESSION, body=RespondIn, responses={200: FollowupOut},
     errors=(404, 409), description="accept | reject | reschedule (with proposed_date).",
     request_example=examples.RESPOND)
@requires(Role.CLIENT)
async def respond(request: web.Request) -> web.Response:
    body = await parse_body(request, RespondIn)
    proposal = (body["proposed_date"], body["proposed_time"]) if body["action"] == "reschedule" else None
    row = await use_cases.transition(services(request.app), _caller(request), path_uuid(request, "followup_id"),
                                     _RESPONSES[body["action"]], proposal=proposal)
    return json_response(followup_out(row))


@routes.post(FOLLOWUP + "/reschedule-response")
@doc("Answer the patient's proposed date (doctor)", tag=POST_SESSION, body=RescheduleResponseIn,
     responses={200: FollowupOut}, errors=(404, 409), request_example={"accept": True})
@requires(Role.DOCTOR)
async def reschedule_response(request: web.Request) -> web.Response:
    body = await parse_body(request, RescheduleResponseIn)
    action = Action.APPROVE_RESCHEDULE if body["accept"] else Action.DECLINE_RESCHEDULE
    row = await use_cases.transition(services(request.app), _caller(request), path_uuid(request, "followup_id"),
                                     action)
    return json_response(followup_out(row))


@routes.post(FOLLOWUP + "/cancel")
@doc("Cancel a follow-up", tag=POST_SESSION, body=CancelIn, body_required=False, responses={200: FollowupOut},
     errors=(404, 409), request_example={"reason": "Schedule conflict"})
@requires(Role.CLIENT, Role.DOCTOR)
async def cancel(request: web.Request) -> web.Response:
    body = await parse_body(request, CancelIn, optional=True)
    row = await use_cases.transition(services(request.app), _caller(request), path_uuid(request, "followup_id"),
                                     Action.CANCEL, reason=body["reason"])
    return json_response(followup_out(row))
