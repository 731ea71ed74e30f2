"""Video permission transitions and call sessions in the database.

A transition is `UPDATE ... WHERE video_permission_state = <the state it was computed from>`: of
two concurrent transitions from one state only one applies; the other re-reads and is judged
against the new state (so it applies on top, or is refused), never lost and never applied twice.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import messages as message_rules
from domain import push_payloads
from domain import video_permission as rules
from domain.errors import Conflict
from common.jsonutil import isoformat
from storage import events
from storage.messages import participant_name
from storage.tables import call_sessions, connect_sessions

S = connect_sessions
C = call_sessions
_ATTEMPTS = 5


def _not_ongoing() -> Conflict:
    return Conflict("Video permission can only change while the session is ongoing", code="SESSION_NOT_ONGOING")


async def _current(conn: AsyncConnection, session_id: uuid.UUID) -> dict[str, Any]:
    return dict((await conn.execute(sa.select(S).where(S.c.id == session_id))).mappings().one())


async def apply(conn: AsyncConnection, session_id: uuid.UUID, *, action: str, role: str,
                now: dt.datetime) -> dict[str, Any]:
    """Apply `action` by `role`; the updated session row. Publishes and pushes the change."""
    for _ in range(_ATTEMPTS):
        session = await _current(conn, session_id)
        if session["status"] != "ONGOING":
            raise _not_ongoing()
        previous = session["video_permission_state"]
        state = rules.transition(previous, action, role)
        row = (await conn.execute(
            sa.update(S).where(S.c.id == session_id, S.c.status == "ONGOING",
                               S.c.video_permission_state == previous)
            .values(video_permission_state=state, patient_video_enabled=rules.patient_video_enabled(state),
                    consent_round=rules.consent_round_after(action, session["consent_round"]), updated_at=now)
            .returning(S)
        )).mappings().first()
        if row is not None:
            row = dict(row)
            await _announce(conn, row, previous=previous, action=action, role=role, now=now)
            return row
    raise Conflict("The video permission is changing too fast; try again", code="CONCURRENT_UPDATE")


async def _announce(conn: AsyncConnection, session: dict[str, Any], *, previous: str, action: str, role: str,
                    now: dt.datetime) -> None:
    actor = message_rules.party(role)
    await events.publish_after_commit(conn, events.session_channel(session["id"]), "video.permission", {
        "session_id": str(session["id"]),
        "video_permission_state": session["video_permission_state"],
        "patient_video_enabled": session["patient_video_enabled"],
        "consent_round": session["consent_round"],
        "previous_state": previous,
        "action": action,
        "changed_by": actor,
        "changed_at": isoformat(now),
    })
    other_role, other_id = message_rules.other_party(session, role)
    payload = push_payloads.video_permission(
        session["id"], state=session["video_permission_state"], consent_round=session["consent_round"],
        actor_role=actor,
        doctor_name=await participant_name(conn, "doctor", session["doctor_id"]) if role == "doctor" else None,
        patient_name=await participant_name(conn, "client", session["patient_id"]) if role == "client" else None)
    await events.push_after_commit(conn, recipient_role=other_role, recipient_id=other_id,
                                   **payload.outbox_fields())


# --- call sessions ------------------------------------------------------------------------

async def call_for_session(conn: AsyncConnection, session_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(C).where(C.c.connect_session_id == session_id))).mappings().first()
    return dict(row) if row else None


async def call_by_id(conn: AsyncConnection, call_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(C).where(C.c.id == call_id))).mappings().first()
    return dict(row) if row else None


async def open_call(conn: AsyncConnection, session: dict[str, Any], *, call_type: str, role: str,
                    subject_id: uuid.UUID, now: dt.datetime) -> tuple[dict[str, Any], bool]:
    """The room's call session: (row, created). One per connect session, also under concurrent creates."""
    existing = await call_for_session(conn, session["id"])
    if existing:
        return existing, False
    if session["status"] != "ONGOING":
        raise Conflict("A call can only start while the session is ongoing", code="SESSION_NOT_ONGOING")
    row = (await conn.execute(
        pg_insert(C).values(connect_session_id=session["id"], call_type=call_type,
                            livekit_room_name=session["room_name"], created_by_role=role,
                            created_by_id=subject_id, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=[C.c.connect_session_id]).returning(C)
    )).mappings().first()
    if row is None:
        existing = await call_for_session(conn, session["id"])
        assert existing is not None
        return existing, False
    return dict(row), True
