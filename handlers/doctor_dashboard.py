"""Doctor-side: overview, sessions, presence, availability, profile."""
from __future__ import annotations

from aiohttp import web

from domain import doctors as rules
from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import DASHBOARD, doc
from gateway.tx import services
from schemas import doctors as schemas
from schemas import doctors_out as out
from schemas import examples
from schemas.common import page, parse_body, parse_query
from schemas.out import page_of
from services import doctors as use_cases
from storage import doctor_dashboard
from storage import doctors as store

routes = web.RouteTableDef()


@routes.get("/doctors/me/overview")
@doc("The doctor's overview (DoctorOverviewResponse)", tag=DASHBOARD, query=schemas.OverviewQuery,
     responses={200: out.DoctorOverviewOut}, errors=(404,),
     description="\"Today\" is the day in `timezone` (IANA, default UTC; 422 for an unknown one).",
     examples={200: examples.OVERVIEW})
@requires(Role.DOCTOR)
async def overview(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.OverviewQuery)
    now = request.app[keys.CLOCK].now()
    day_start, day_end = rules.day_bounds(now, query["timezone"])
    doctor_id = principal(request).id
    async with request.app[keys.DB].connect() as conn:
        doctor = await store.get_doctor(conn, doctor_id)
        if doctor is None:
            raise use_cases.not_found()  # token valid, row missing or inactive
        metrics = await doctor_dashboard.overview_metrics(conn, doctor_id, now, day_start, day_end)
    return json_response({"doctor": schemas.overview_doctor(doctor),
                          "availability": rules.availability(doctor), "metrics": metrics})


@routes.get("/doctors/me/sessions")
@doc("The doctor's sessions, newest request first", tag=DASHBOARD, query=schemas.SessionsQuery,
     responses={200: page_of(out.DoctorSessionItemOut)}, description="`skip` is the offset.")
@requires(Role.DOCTOR)
async def my_sessions(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.SessionsQuery)
    now, zone = request.app[keys.CLOCK].now(), query["timezone"]
    first, last = query.get("from_date"), query.get("to_date")
    start = rules.date_range_bounds(first, first, zone)[0] if first else None
    end = rules.date_range_bounds(last, last, zone)[1] if last else None
    async with request.app[keys.DB].connect() as conn:
        rows, total = await doctor_dashboard.sessions_page(
            conn, principal(request).id, now, status=query["status"], start=start, end=end,
            has_followup=query.get("has_followup"), skip=query["skip"], limit=query["limit"])
    items = [schemas.doctor_session_item(r, now, zone) for r in rows]
    return json_response(page(items, total, query["limit"], query["skip"]))


@routes.get("/doctors/me/sessions/recent")
@doc("The doctor's recent consultations", tag=DASHBOARD, query=schemas.RecentQuery,
     responses={200: page_of(out.DoctorSessionItemOut)},
     description="ONGOING or ENDED, latest start first, with a patient preview and `duration_display`.")
@requires(Role.DOCTOR)
async def recent_sessions(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.RecentQuery)
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB].connect() as conn:
        rows, total = await doctor_dashboard.recent_sessions(conn, principal(request).id, now, query["limit"])
    items = [schemas.doctor_session_item(r, now, query["timezone"]) for r in rows]
    return json_response(page(items, total, query["limit"], 0))


# --- presence and availability ------------------------------------------------------------

@routes.put("/doctors/me/online")
@doc("Go online or offline", tag=DASHBOARD, body=schemas.OnlineBody, responses={200: out.AvailabilityOut},
     errors=(404,), request_example={"online": True})
@requires(Role.DOCTOR)
async def set_online(request: web.Request) -> web.Response:
    body = await parse_body(request, schemas.OnlineBody)
    wanted = rules.ONLINE if body["online"] else rules.OFFLINE
    doctor = await use_cases.set_presence(services(request.app), principal(request).id, wanted)
    return json_response(rules.availability(doctor))


@routes.put("/doctors/me/presence")
@doc("Set presence (online | offline)", tag=DASHBOARD, body=schemas.PresenceBody,
     responses={200: out.AvailabilityOut}, errors=(404,),
     description="BUSY is set and cleared by the server only.", request_example={"presence_status": "online"})
@requires(Role.DOCTOR)
async def set_presence(request: web.Request) -> web.Response:
    body = await parse_body(request, schemas.PresenceBody)
    wanted = rules.SETTABLE_PRESENCE[body["presence_status"]]
    doctor = await use_cases.set_presence(services(request.app), principal(request).id, wanted)
    return json_response(rules.availability(doctor))


@routes.patch("/doctors/me/availability")
@doc("Switch chat and call availability", tag=DASHBOARD, body=schemas.AvailabilityBody, body_required=False,
     responses={200: out.AvailabilityOut}, errors=(404,), request_example={"chat_enabled": True, "call_enabled": False})
@requires(Role.DOCTOR)
async def set_availability(request: web.Request) -> web.Response:
    body = await parse_body(request, schemas.AvailabilityBody, optional=True)
    doctor = await use_cases.set_availability(services(request.app), principal(request).id, body)
    return json_response(rules.availability(doctor))


# --- profile ------------------------------------------------------------------------------

@routes.get("/doctors/me/profile")
@doc("The doctor's own profile", tag=DASHBOARD, responses={200: out.DoctorProfileOut}, errors=(404,))
@requires(Role.DOCTOR)
async def get_profile(request: web.Request) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        doctor = await store.get_doctor(conn, principal(request).id)
    if doctor is None:
        raise use_cases.not_found()  # token valid, row missing or inactive
    return json_response(schemas.doctor_profile_out(doctor))


@routes.patch("/doctors/me/profile")
@doc("Update the doctor's own profile", tag=DASHBOARD, body=schemas.ProfileUpdate, body_required=False,
     responses={200: out.DoctorProfileOut}, errors=(404,),
     description="Speciality and languages from the allowed lists (422 otherwise).",
     request_example=examples.DOCTOR_PROFILE_CHANGE)
@requires(Role.DOCTOR)
async def update_profile(request: web.Request) -> web.Response:
    body = schemas.clean_profile(await parse_body(request, schemas.ProfileUpdate, optional=True))
    doctor = await use_cases.update_profile(services(request.app), principal(request).id, body)
    return json_response(schemas.doctor_profile_out(doctor))
