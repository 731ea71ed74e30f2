"""Recording use cases: a session's recordings through LiveKit's room-composite egress (passed in as
an `EgressClient`), and LiveKit's reports of an egress (webhooks). Rules from domain.files, rows from
storage.files.

Start is idempotent: the session row lock and a partial unique index allow one STARTING/ACTIVE
recording per session, so a second start (even a concurrent one) returns it. The egress is called
after the row is committed; LiveKit's webhooks finish the story (`egress_report`).
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from livekit.protocol import egress as proto

from domain.errors import ServiceUnavailable
from domain.files import (
    ACTIVE_RECORDING,
    FAILED,
    RUNNING_RECORDING,
    STARTING,
    check_recordable,
    check_stoppable,
    ended_if_final,
    recording_blob_name,
    recording_not_found,
    started_values,
    stopped_values,
    webhook_values,
)
from domain.sessions import room_name
from integrations.livekit_egress import EgressClient, EgressRejected, EgressUnavailable, recording_values
from services.context import Caller, Context, reading, transaction
from storage import files
from storage.blobs import RECORDINGS
from storage.session_access import session_for_participant

log = logging.getLogger(__name__)
Row = dict[str, Any]


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The recording service is unavailable", code="RECORDING_UNAVAILABLE")


async def start(ctx: Context, egress: EgressClient, caller: Caller, session_id: uuid.UUID) -> tuple[Row, bool]:
    """(recording, created): a new STARTING recording of the ONGOING session with its egress, or the
    one already starting or running. LiveKit down: the attempt is recorded FAILED (so a retry starts
    afresh) and 503."""
    now, recording_id = ctx.now(), uuid.uuid4()
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, caller.role, caller.id, lock=True)
        check_recordable(session["status"])
        active = await files.active_recording(conn, session_id)
        if active is not None:
            return active, False
        row = await files.insert_recording(
            conn, recording_id=recording_id, session_id=session_id,
            room_name=session["room_name"] or room_name(session_id), started_by_role=caller.role,
            started_by_id=caller.id, container=RECORDINGS, blob_name=recording_blob_name(session_id, recording_id))
    try:
        info = await egress.start_room_composite(row["room_name"], row["blob_name"])
    except (EgressUnavailable, EgressRejected) as exc:
        async with transaction(ctx) as conn:
            await files.update_recording(conn, recording_id, only_from=(STARTING,), now=now, status=FAILED,
                                         error=str(exc)[:500], ended_at=now)
        raise _unavailable() from None
    values = started_values(recording_values(info))
    async with transaction(ctx) as conn:
        updated = await files.update_recording(conn, recording_id, only_from=(STARTING,), now=now,
                                               egress_id=info.egress_id, started_at=now, **values)
        current = updated or await files.get_recording(conn, session_id, recording_id)
    assert current is not None
    return current, True


async def stop(ctx: Context, egress: EgressClient, caller: Caller, session_id: uuid.UUID,
               recording_id: uuid.UUID) -> Row:
    """Ask LiveKit to stop a running recording: STOPPING (or final, if LiveKit says so). A repeated
    stop returns the recording as it is."""
    async with reading(ctx) as conn:
        await session_for_participant(conn, session_id, caller.role, caller.id)
        row = await files.get_recording(conn, session_id, recording_id)
    if row is None:
        raise recording_not_found()
    if not check_stoppable(row):
        return row
    reported: dict[str, Any] | None
    try:
        reported = recording_values(await egress.stop(row["egress_id"]))
    except EgressRejected:
        reported = None  # LiveKit no longer runs it (already ending): its egress_ended webhook completes the row
    except EgressUnavailable:
        raise _unavailable() from None
    now = ctx.now()
    values = ended_if_final(stopped_values(reported), now)
    async with transaction(ctx) as conn:
        updated = await files.update_recording(conn, recording_id, only_from=ACTIVE_RECORDING, now=now,
                                               stop_requested_at=now, **values)
        current = updated or await files.get_recording(conn, session_id, recording_id)
    assert current is not None
    return current


async def list_for_session(ctx: Context, caller: Caller, session_id: uuid.UUID, *, limit: int,
                           offset: int) -> tuple[list[Row], int]:
    """The session's recordings, newest first, for its participants."""
    async with reading(ctx) as conn:
        await session_for_participant(conn, session_id, caller.role, caller.id)
        return await files.list_recordings(conn, session_id, limit, offset)


async def egress_report(ctx: Context, info: proto.EgressInfo) -> bool:
    """LiveKit's (verified) report of an egress: the recording goes ACTIVE, COMPLETED (with its file)
    or FAILED. False if nothing changed: an unknown egress, or a recording already final."""
    now = ctx.now()
    values = ended_if_final(recording_values(info), now)
    async with transaction(ctx) as conn:
        row = await files.recording_by_egress(conn, info.egress_id, lock=True)
        if row is None:
            log.info("webhook for unknown egress %s ignored", info.egress_id)
            return False
        updated = await files.update_recording(conn, row["id"], only_from=RUNNING_RECORDING, now=now,
                                               **webhook_values(row["status"], values))
    return updated is not None
