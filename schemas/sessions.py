"""Connect session bodies in, and the reference's response shapes out."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from domain.avatars import patient_preview
from schemas.common import BaseSchema, Str


class SessionCreate(BaseSchema):
    target_doctor_id = fields.UUID(required=True)
    category = Str(load_default=None, allow_none=True, max_len=100)
    symptoms = fields.List(Str(min_len=1, max_len=200), load_default=list,
                           validate=validate.Length(max=30))
    active_treatment = Str(load_default=None, allow_none=True, max_len=2000)
    medical_history = Str(load_default=None, allow_none=True, max_len=2000)
    # Accepted for compatibility and ignored: the session always bills at the doctor's rate.
    rate_per_minute = fields.Integer(load_default=None, allow_none=True)


class SessionEnd(BaseSchema):
    reason = Str(load_default=None, allow_none=True, max_len=50)
    note = Str(load_default=None, allow_none=True, max_len=1000)


def created_out(session: dict[str, Any], livekit: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": session["id"],
        "status": session["status"],
        "doctor_id": session["doctor_id"],
        "room_name": session["room_name"],
        "rate_per_minute": session["rate_per_minute"],
        "expires_at": session["expires_at"],
        "livekit": livekit,
        "created_at": session["created_at"],
    }


def accepted_out(session: dict[str, Any], livekit: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": session["id"],
        "status": session["status"],
        "doctor_id": session["doctor_id"],
        "room_name": session["room_name"],
        "started_at": session["started_at"],
        "livekit": livekit,
    }


def status_out(session: dict[str, Any]) -> dict[str, Any]:
    """Reject / end / cancel: where the session stands now, with its bill once ENDED."""
    return {
        "session_id": session["id"],
        "status": session["status"],
        "started_at": session["started_at"],
        "ended_at": session["ended_at"],
        "ended_by": session["ended_by"],
        "reason": session["end_reason"],
        "duration_seconds": session["duration_seconds"],
        "billed_minutes": session["billed_minutes"],
        "billed_amount": session["billed_amount"],
    }


def detail_out(session: dict[str, Any], patient: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": session["id"],
        "patient_id": session["patient_id"],
        "doctor_id": session["doctor_id"],
        "status": session["status"],
        "room_name": session["room_name"],
        "category": session["category"],
        "symptoms": list(session["symptoms"] or []),
        "active_treatment": session["active_treatment"],
        "medical_history": session["medical_history"],
        "rate_per_minute": session["rate_per_minute"],
        "requested_at": session["requested_at"],
        "expires_at": session["expires_at"],
        "started_at": session["started_at"],
        "ended_at": session["ended_at"],
        "ended_by": session["ended_by"],
        "end_reason": session["end_reason"],
        "duration_seconds": session["duration_seconds"],
        "billed_minutes": session["billed_minutes"],
        "billed_amount": session["billed_amount"],
        "created_at": session["created_at"],
        "patient": patient_preview(patient),
    }


def token_out(session: dict[str, Any], livekit: dict[str, Any]) -> dict[str, Any]:
    return {"session_id": session["id"], "status": session["status"],
            "room_name": session["room_name"], "livekit": livekit}
