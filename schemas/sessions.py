"""Connect session bodies in, and the reference's response shapes out."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from domain.avatars import patient_preview
from domain.profile import SEXES
from domain.sessions import SessionStatus
from schemas.common import BaseSchema, Str
from schemas.out import OutSchema, one_of


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


# --- answers (schemas.out) ----------------------------------------------------------------

class LiveKitOut(OutSchema):
    """A LiveKit join token for the session's room (`cn-{session_id}`), valid for that room only."""
    token = fields.String()
    ws_url = fields.String()
    identity = fields.String(metadata={"example": "patient-644452ac-c508-422f-8910-f0be7a5393d3"})
    expires_in = fields.Integer(metadata={"description": "Seconds"})


class SessionCreatedOut(OutSchema):
    session_id = fields.UUID()
    status = one_of(SessionStatus)
    doctor_id = fields.UUID()
    room_name = fields.String()
    rate_per_minute = fields.Integer(metadata={"description": "Paise per minute (the doctor's rate)"})
    expires_at = fields.DateTime()
    livekit = fields.Nested(LiveKitOut)
    created_at = fields.DateTime()


class SessionAcceptedOut(OutSchema):
    session_id = fields.UUID()
    status = one_of(SessionStatus)
    doctor_id = fields.UUID()
    room_name = fields.String()
    started_at = fields.DateTime(allow_none=True)
    livekit = fields.Nested(LiveKitOut)


class SessionStatusOut(OutSchema):
    """Reject / end / cancel: where the session stands, with its bill once ENDED."""
    session_id = fields.UUID()
    status = one_of(SessionStatus)
    started_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    ended_by = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    billed_minutes = fields.Integer(allow_none=True)
    billed_amount = fields.Integer(allow_none=True, metadata={"description": "Paise"})


class PatientPreviewOut(OutSchema):
    """The `patient` of a request item and of the session detail (DiceBear avatar by sex)."""
    user_id = fields.UUID()
    name = fields.String(allow_none=True)
    age = fields.Integer(allow_none=True)
    sex = one_of(SEXES, allow_none=True)
    initials = fields.String()
    avatar_url = fields.String()


class SessionDetailOut(OutSchema):
    id = fields.UUID()
    patient_id = fields.UUID()
    doctor_id = fields.UUID()
    status = one_of(SessionStatus)
    room_name = fields.String()
    category = fields.String(allow_none=True)
    symptoms = fields.List(fields.String())
    active_treatment = fields.String(allow_none=True)
    medical_history = fields.String(allow_none=True)
    rate_per_minute = fields.Integer()
    requested_at = fields.DateTime()
    expires_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    ended_by = fields.String(allow_none=True)
    end_reason = fields.String(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    billed_minutes = fields.Integer(allow_none=True)
    billed_amount = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    patient = fields.Nested(PatientPreviewOut)


class SessionTokenOut(OutSchema):
    session_id = fields.UUID()
    status = one_of(SessionStatus)
    room_name = fields.String()
    livekit = fields.Nested(LiveKitOut)


class RequestItemOut(OutSchema):
    """A pending request (storage.session_requests.request_item): the item of GET
    /connect/sessions/requests and the data of the stream's `session_requested` event."""
    session_id = fields.UUID()
    status = one_of(SessionStatus)
    requested_at = fields.DateTime()
    expires_at = fields.DateTime()
    category = fields.String(allow_none=True)
    symptoms = fields.List(fields.String())
    patient = fields.Nested(PatientPreviewOut)


class RequestListOut(OutSchema):
    items = fields.List(fields.Nested(RequestItemOut))
    total = fields.Integer()
