"""The doctor's pending requests, in the item shape shared by GET /connect/sessions/requests and the SSE stream."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.avatars import patient_preview
from storage.tables import connect_sessions, users

_PATIENT_COLUMNS = [users.c.id, users.c.full_name, users.c.age, users.c.sex, users.c.avatar_source,
                    users.c.avatar_url]


def request_item(session: dict[str, Any], patient: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": session["id"],
        "status": session["status"],
        "requested_at": session["requested_at"],
        "expires_at": session["expires_at"],
        "category": session["category"],
        "symptoms": list(session["symptoms"] or []),
        "patient": patient_preview(patient),
    }


async def pending_requests(conn: AsyncConnection, doctor_id: uuid.UUID) -> list[dict[str, Any]]:
    """REQUESTED sessions of this doctor, oldest first."""
    s = connect_sessions
    query = (
        sa.select(s, *[c.label(f"patient__{c.name}") for c in _PATIENT_COLUMNS])
        .join(users, users.c.id == s.c.patient_id)
        .where(s.c.doctor_id == doctor_id, s.c.status == "REQUESTED")
        .order_by(s.c.requested_at, s.c.id)
    )
    items = []
    for row in (await conn.execute(query)).mappings():
        patient = {c.name: row[f"patient__{c.name}"] for c in _PATIENT_COLUMNS}
        items.append(request_item(dict(row), patient))
    return items


async def request_item_for(conn: AsyncConnection, session_id: uuid.UUID) -> dict[str, Any] | None:
    """One session as a request item (for the `session_requested` event payload)."""
    s = connect_sessions
    row = (await conn.execute(
        sa.select(s, *[c.label(f"patient__{c.name}") for c in _PATIENT_COLUMNS])
        .join(users, users.c.id == s.c.patient_id).where(s.c.id == session_id)
    )).mappings().first()
    if row is None:
        return None
    patient = {c.name: row[f"patient__{c.name}"] for c in _PATIENT_COLUMNS}
    return request_item(dict(row), patient)
