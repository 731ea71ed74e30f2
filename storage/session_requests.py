"""The doctor's pending requests, in the item shape shared by GET /connect/sessions/requests and the SSE stream."""
from __future__ import annotations

import uuid
from typing import Any, Mapping

from storage.pool import Connection

from domain.avatars import patient_preview
from domain.sessions import REQUESTED
from storage import driver

# What a request item shows of its patient (the same columns storage.sessions reads for the item).
PATIENT_COLUMNS = ("id", "full_name", "age", "sex", "avatar_source", "avatar_url")

# Hot (every doctor console poll and stream start): SQL text on the driver (see storage.driver).
_ITEM_SELECT = ("SELECT s.id, s.status, s.requested_at, s.expires_at, s.category, s.symptoms, "
                + ", ".join(f"u.{c} AS patient__{c}" for c in PATIENT_COLUMNS)
                + " FROM connect_sessions s JOIN users u ON u.id = s.patient_id")
_PENDING = _ITEM_SELECT + f" WHERE s.doctor_id = $1 AND s.status = '{REQUESTED}' ORDER BY s.requested_at, s.id"
_ONE = _ITEM_SELECT + " WHERE s.id = $1"


def request_item(session: Mapping[str, Any], patient: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "session_id": session["id"],
        "status": session["status"],
        "requested_at": session["requested_at"],
        "expires_at": session["expires_at"],
        "category": session["category"],
        "symptoms": list(session["symptoms"] or []),
        "patient": patient_preview(patient),
    }


def _item(row: Mapping[str, Any]) -> dict[str, Any]:
    return request_item(row, {c: row[f"patient__{c}"] for c in PATIENT_COLUMNS})


async def pending_requests(conn: Connection, doctor_id: uuid.UUID) -> list[dict[str, Any]]:
    """REQUESTED sessions of this doctor, oldest first."""
    return [_item(row) for row in await driver.fetch(conn, _PENDING, doctor_id)]


async def request_item_for(conn: Connection, session_id: uuid.UUID) -> dict[str, Any] | None:
    """One session as a request item (for the `session_requested` event payload)."""
    row = await driver.fetchrow(conn, _ONE, session_id)
    return _item(row) if row is not None else None
