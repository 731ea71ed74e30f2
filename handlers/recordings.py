"""Session recordings through LiveKit's room-composite egress.

Start is idempotent: the session row lock and a partial unique index allow one STARTING/ACTIVE
recording per session, so a second start (even a concurrent one) returns it with 200. The egress
is called after the row is committed; LiveKit's webhooks (handlers/webhooks.py) finish the story.
"""
from __future__ import annotations

import uuid

from aiohttp import web

from domain.errors import Conflict, NotFound, ServiceUnavailable
from gateway import keys
from gateway.resources import blob_store
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import transaction
from integrations.livekit_egress import EgressClient, EgressRejected, EgressUnavailable, recording_values
from schemas.common import UUID_RE, PageQuery, page, parse_query, path_uuid
from schemas.files import recording_out
from storage import files
from storage.blobs import RECORDINGS
from storage.session_access import session_for_participant

routes = web.RouteTableDef()
RECORDINGS_PATH = "/connect/sessions/{session_id:" + UUID_RE + "}/recordings"
PARTICIPANTS = ("client", "doctor")


def _out(request: web.Request, row: dict) -> dict:
    url = None
    if row["status"] == "COMPLETED":
        url = blob_store(request.app).read_url(row["container"], row["blob_name"], content_type="video/mp4")
    return recording_out(row, url)


@routes.post(RECORDINGS_PATH)
@requires(*PARTICIPANTS)
async def start_recording(request: web.Request) -> web.Response:
    session_id = path_uuid(request, "session_id")
    who = principal(request)
    now = request.app[keys.CLOCK].now()
    recording_id = uuid.uuid4()
    async with transaction(request.app) as conn:
        session = await session_for_participant(conn, session_id, who.role, who.id, lock=True)
        if session["status"] != "ONGOING":
            raise Conflict("Recording needs an ongoing session", code="SESSION_NOT_ONGOING")
        active = await files.active_recording(conn, session_id)
        if active is not None:
            return json_response(_out(request, active), status=200)
        row = await files.insert_recording(
            conn, id=recording_id, session_id=session_id, room_name=session["room_name"] or f"cn-{session_id}",
            status="STARTING", started_by_role=who.role, started_by_id=who.id, container=RECORDINGS,
            blob_name=f"sessions/{session_id}/recordings/{recording_id}.mp4")
    try:
        info = await EgressClient(request.app[keys.SETTINGS]).start_room_composite(row["room_name"], row["blob_name"])
    except (EgressUnavailable, EgressRejected) as exc:
        async with transaction(request.app) as conn:
            await files.update_recording(conn, recording_id, only_from=("STARTING",), now=now, status="FAILED",
                                         error=str(exc)[:500], ended_at=now)
        raise ServiceUnavailable("The recording service is unavailable", code="RECORDING_UNAVAILABLE") from None
    values = recording_values(info)
    if values["status"] not in ("STARTING", "ACTIVE"):
        values = {"status": "STARTING"}  # a fresh egress reports STARTING; anything else waits for webhooks
    async with transaction(request.app) as conn:
        updated = await files.update_recording(conn, recording_id, only_from=("STARTING",), now=now,
                                               egress_id=info.egress_id, started_at=now, **values)
        row = updated or await files.get_recording(conn, session_id, recording_id)
    return json_response(_out(request, row), status=201)


@routes.post(RECORDINGS_PATH + "/{recording_id:" + UUID_RE + "}/stop")
@requires(*PARTICIPANTS)
async def stop_recording(request: web.Request) -> web.Response:
    session_id, recording_id = path_uuid(request, "session_id"), path_uuid(request, "recording_id")
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        await session_for_participant(conn, session_id, who.role, who.id)
        row = await files.get_recording(conn, session_id, recording_id)
    if row is None:
        raise NotFound("Recording not found", code="RECORDING_NOT_FOUND")
    if row["status"] == "STOPPING":
        return json_response(_out(request, row))
    if row["status"] not in files.ACTIVE_RECORDING:
        raise Conflict("The recording is not running", code="RECORDING_NOT_ACTIVE")
    if not row["egress_id"]:
        raise Conflict("The recording is still starting; try again shortly", code="RECORDING_STARTING")
    values = {"status": "STOPPING"}
    try:
        info = await EgressClient(request.app[keys.SETTINGS]).stop(row["egress_id"])
        reported = recording_values(info)
        if reported["status"] in ("COMPLETED", "FAILED", "STOPPING"):
            values = reported
    except EgressRejected:
        pass  # LiveKit no longer runs it (already ending): its egress_ended webhook completes the row
    except EgressUnavailable:
        raise ServiceUnavailable("The recording service is unavailable", code="RECORDING_UNAVAILABLE") from None
    now = request.app[keys.CLOCK].now()
    if values["status"] in files.FINAL_RECORDING:
        values["ended_at"] = now
    async with transaction(request.app) as conn:
        updated = await files.update_recording(conn, recording_id, only_from=files.ACTIVE_RECORDING, now=now,
                                               stop_requested_at=now, **values)
        row = updated or await files.get_recording(conn, session_id, recording_id)
    return json_response(_out(request, row))


@routes.get(RECORDINGS_PATH)
@requires(*PARTICIPANTS)
async def list_recordings(request: web.Request) -> web.Response:
    query = parse_query(request, PageQuery())
    session_id = path_uuid(request, "session_id")
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        await session_for_participant(conn, session_id, who.role, who.id)
        rows, total = await files.list_recordings(conn, session_id, query["limit"], query["offset"])
    return json_response(page([_out(request, row) for row in rows], total, query["limit"], query["offset"]))
