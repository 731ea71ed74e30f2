"""Session recordings through LiveKit's room-composite egress: parse, then services.recordings (start
is idempotent: 201 for a new recording, 200 for the one already running). LiveKit's webhooks
(handlers/webhooks.py) finish the story."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from domain.files import COMPLETED
from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import FILES, doc
from gateway.resources import blob_store
from gateway.tx import services
from integrations.livekit_egress import EgressClient
from schemas.common import UUID_RE, PageQuery, page, parse_query, path_uuid
from schemas.files import RecordingOut, recording_out
from schemas.out import page_of
from services import recordings as use_cases
from services.context import Caller

routes = web.RouteTableDef()
RECORDINGS_PATH = "/connect/sessions/{session_id:" + UUID_RE + "}/recordings"
PARTICIPANTS = (Role.CLIENT, Role.DOCTOR)


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who.role, who.id)


def _egress(request: web.Request) -> EgressClient:
    return EgressClient(request.app[keys.SETTINGS])


def _out(request: web.Request, row: dict[str, Any]) -> dict[str, Any]:
    url = None
    if row["status"] == COMPLETED:
        url = blob_store(request.app).read_url(row["container"], row["blob_name"], content_type="video/mp4")
    return recording_out(row, url)


@routes.post(RECORDINGS_PATH)
@doc("Start recording the session (LiveKit egress)", tag=FILES, responses={201: RecordingOut, 200: RecordingOut},
     errors=(404, 409), description="The session must be ONGOING. 201 for a new recording, 200 with the one "
     "already running; LiveKit unreachable: 503.")
@requires(*PARTICIPANTS)
async def start_recording(request: web.Request) -> web.Response:
    row, created = await use_cases.start(services(request.app), _egress(request), _caller(request),
                                         path_uuid(request, "session_id"))
    return json_response(_out(request, row), status=201 if created else 200)


@routes.post(RECORDINGS_PATH + "/{recording_id:" + UUID_RE + "}/stop")
@doc("Stop a recording", tag=FILES, responses={200: RecordingOut}, errors=(404, 409))
@requires(*PARTICIPANTS)
async def stop_recording(request: web.Request) -> web.Response:
    row = await use_cases.stop(services(request.app), _egress(request), _caller(request),
                               path_uuid(request, "session_id"), path_uuid(request, "recording_id"))
    return json_response(_out(request, row))


@routes.get(RECORDINGS_PATH)
@doc("A session's recordings", tag=FILES, query=PageQuery, responses={200: page_of(RecordingOut)}, errors=(404,),
     description="With a download URL once COMPLETED.")
@requires(*PARTICIPANTS)
async def list_recordings(request: web.Request) -> web.Response:
    query = parse_query(request, PageQuery)
    rows, total = await use_cases.list_for_session(services(request.app), _caller(request),
                                                   path_uuid(request, "session_id"), limit=query["limit"],
                                                   offset=query["offset"])
    return json_response(page([_out(request, row) for row in rows], total, query["limit"], query["offset"]))
