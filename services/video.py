"""Video permission and call session use cases: a participant changes the patient-video permission
(the doctor allows or revokes, the patient accepts, declines, toggles or revokes), opens the session's
call, or looks a call up. Each owns its transaction; the state machine is domain.video_permission,
the rows storage.video.

A permission change is applied only from the state it was computed from: of two concurrent changes
from one state only one applies; the other re-reads and is judged against the new state (so it
applies on top, or is refused), never lost and never applied twice. Its event and its push to the
other party are written in the same transaction.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from storage.pool import Connection

from common.jsonutil import isoformat
from domain import messages as message_rules
from domain import push_payloads
from domain import video_permission as rules
from domain.errors import Conflict, NotFound
from domain.roles import Role
from services.context import Caller, Context, reading, transaction
from storage import events
from storage import video as store
from storage.session_access import session_for_participant

Row = dict[str, Any]
_ATTEMPTS = 5


# --- permission ---------------------------------------------------------------------------

async def change_permission(ctx: Context, caller: Caller, session_id: uuid.UUID, action: str) -> Row:
    """Apply `action` (domain.video_permission) by a participant of the session (foreign → 404);
    the updated session row. Refused unless the session is ONGOING (409), the action is the caller's
    role's (403) and valid from the current state (409)."""
    now = ctx.now()
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, caller.role, caller.id)
        for _ in range(_ATTEMPTS):
            rules.check_changeable(session["status"])
            previous = session["video_permission_state"]
            state = rules.transition(previous, action, caller.role)
            row = await store.set_permission(
                conn, session_id, actor_role=caller.role, previous=previous, state=state,
                patient_video_enabled=rules.patient_video_enabled(state),
                consent_round=rules.consent_round_after(action, session["consent_round"]), now=now)
            if row is not None:
                actor_name = row.pop("actor_name")
                await _announce(conn, row, previous=previous, action=action, role=caller.role,
                                actor_name=actor_name, now=now)
                return row
            # Changed (or ended) since it was read: judge the action against what it is now.
            session = await session_for_participant(conn, session_id, caller.role, caller.id)
    raise Conflict("The video permission is changing too fast; try again", code="CONCURRENT_UPDATE")


async def _announce(conn: Connection, session: Row, *, previous: str, action: str, role: str,
                    actor_name: str | None, now: dt.datetime) -> None:
    """The `video.permission` event on the session's channel and the push to the other party."""
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
        doctor_name=actor_name if role == Role.DOCTOR else None,
        patient_name=actor_name if role == Role.CLIENT else None)
    await events.push_after_commit(conn, recipient_role=other_role, recipient_id=other_id,
                                   **payload.outbox_fields())


# --- call sessions ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Call:
    call: Row
    session: Row       # its connect session (the call's status and the video permission come from it)
    created: bool = False


async def open_call(ctx: Context, caller: Caller, session_id: uuid.UUID, call_type: str) -> Call:
    """The connect session's call, created by a participant while the session is ONGOING (foreign →
    404); one per session, also under concurrent creates: a later create gets the existing one."""
    now = ctx.now()
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, caller.role, caller.id)
        existing = await store.call_for_session(conn, session_id)
        if existing:
            return Call(existing, session)
        rules.check_can_start_call(session["status"])
        call = await store.insert_call(conn, session_id, call_type=call_type, room_name=session["room_name"],
                                       created_by_role=caller.role, created_by_id=caller.id, now=now)
        if call is None:  # a concurrent create committed first
            existing = await store.call_for_session(conn, session_id)
            assert existing is not None
            return Call(existing, session)
    return Call(call, session, created=True)


def _call_not_found() -> NotFound:
    return NotFound("Call session not found", code="CALL_SESSION_NOT_FOUND")


async def call(ctx: Context, caller: Caller, call_id: uuid.UUID) -> Call:
    """A call of a session the caller takes part in (anything else is 404, never revealing it exists)."""
    async with reading(ctx) as conn:
        found = await store.call_by_id(conn, call_id)
        if found is None:
            raise _call_not_found()
        try:
            session = await session_for_participant(conn, found["connect_session_id"], caller.role, caller.id)
        except NotFound:
            raise _call_not_found() from None
    return Call(found, session)
