"""Who may touch a session: the one place that decides participant access (foreign → 404)."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import NotFound
from storage.tables import connect_sessions


def participant_filter(role: str, subject_id: uuid.UUID):
    if role == "client":
        return connect_sessions.c.patient_id == subject_id
    if role == "doctor":
        return connect_sessions.c.doctor_id == subject_id
    return sa.false()


async def session_for_participant(conn: AsyncConnection, session_id: uuid.UUID, role: str,
                                  subject_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any]:
    """The session row if the caller is its patient or doctor, else NotFound (never reveal it exists).

    `lock=True` takes a row lock (SELECT ... FOR UPDATE) for a state change in the caller's transaction.
    """
    query = sa.select(connect_sessions).where(
        connect_sessions.c.id == session_id, participant_filter(role, subject_id))
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise NotFound("Session not found", code="SESSION_NOT_FOUND")
    return dict(row)
