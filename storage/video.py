"""Video permission and call session rows. SQL text on the driver (storage.driver); the state
machine and who is told live in domain.video_permission and services.video.

A permission change is `UPDATE ... WHERE video_permission_state = <the state it was computed
from>`: of two concurrent changes from one state only one applies (services.video re-reads and
judges the other against the new state).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from domain.sessions import ONGOING
from storage import driver
from storage.tables import call_sessions, connect_sessions

Row = dict[str, Any]

_SESSION_FIELDS = ", ".join(c.name for c in connect_sessions.c)
_CALL_FIELDS = ", ".join(c.name for c in call_sessions.c)
# The name of whoever made the change, for the push text: (table, the session's column naming them).
_ACTOR = {"client": ("users", "patient_id"), "doctor": ("doctors", "doctor_id")}


# --- permission ---------------------------------------------------------------------------

_SET_PERMISSION = {
    role: (f"UPDATE connect_sessions SET video_permission_state = $3, patient_video_enabled = $4, "
           f"consent_round = $5, updated_at = $6 "
           f"WHERE id = $1 AND status = '{ONGOING}' AND video_permission_state = $2 "
           f"RETURNING {_SESSION_FIELDS}, (SELECT full_name FROM {table} WHERE id = {column}) AS actor_name")
    for role, (table, column) in _ACTOR.items()
}


async def set_permission(conn: Connection, session_id: uuid.UUID, *, actor_role: str, previous: str,
                         state: str, patient_video_enabled: bool, consent_round: int,
                         now: dt.datetime) -> Row | None:
    """Move an ONGOING session's permission from `previous` to `state`: the session row with
    `actor_name` (the name of `actor_role`'s participant), or None if it was not ONGOING in
    `previous` any more."""
    row = await driver.fetchrow(conn, _SET_PERMISSION[actor_role], session_id, previous, state,
                                patient_video_enabled, consent_round, now, begin=True)
    return dict(row) if row else None


# --- call sessions ------------------------------------------------------------------------

_CALL_FOR_SESSION = f"SELECT {_CALL_FIELDS} FROM call_sessions WHERE connect_session_id = $1"
_CALL_BY_ID = f"SELECT {_CALL_FIELDS} FROM call_sessions WHERE id = $1"
# One call per connect session, also under concurrent creates: the unique key turns a second into no row.
_INSERT_CALL = (f"INSERT INTO call_sessions (connect_session_id, call_type, livekit_room_name, created_by_role, "
                f"created_by_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) "
                f"ON CONFLICT (connect_session_id) DO NOTHING RETURNING {_CALL_FIELDS}")


async def call_for_session(conn: Connection, session_id: uuid.UUID) -> Row | None:
    row = await driver.fetchrow(conn, _CALL_FOR_SESSION, session_id)
    return dict(row) if row else None


async def call_by_id(conn: Connection, call_id: uuid.UUID) -> Row | None:
    row = await driver.fetchrow(conn, _CALL_BY_ID, call_id)
    return dict(row) if row else None


async def insert_call(conn: Connection, session_id: uuid.UUID, *, call_type: str, room_name: str,
                      created_by_role: str, created_by_id: uuid.UUID, now: dt.datetime) -> Row | None:
    """The new call session of the connect session; None if it has one already."""
    row = await driver.fetchrow(conn, _INSERT_CALL, session_id, call_type, room_name, created_by_role,
                                created_by_id, now, begin=True)
    return dict(row) if row else None
