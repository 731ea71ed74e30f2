"""Video permission and call session bodies in; the reference's shapes out."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from domain.sessions import ENDED, ONGOING
from domain.video_permission import STATES
from schemas.common import BaseSchema, Str
from schemas.out import OutSchema, one_of

CALL_TYPES = ("AUDIO", "VIDEO")


class VideoToggle(BaseSchema):
    enabled = fields.Boolean(required=True)


class CallSessionCreate(BaseSchema):
    connect_session_id = fields.UUID(required=True)
    call_type = Str(load_default="AUDIO", validate=[validate.OneOf(CALL_TYPES)])


def permission_out(session: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": session["id"],
        "video_permission_state": session["video_permission_state"],
        "patient_video_enabled": session["patient_video_enabled"],
        "consent_round": session["consent_round"],
    }


def call_session_out(call: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    # The call lives as long as its consultation: once that is over, so is the call.
    status = call["status"] if session["status"] == ONGOING else ENDED
    return {
        "id": call["id"],
        "connect_session_id": call["connect_session_id"],
        "call_type": call["call_type"],
        "status": status,
        "livekit_room_name": call["livekit_room_name"],
        "video_permission_state": session["video_permission_state"],
        "patient_video_enabled": session["patient_video_enabled"],
        "created_at": call["created_at"],
    }


class VideoPermissionOut(OutSchema):
    session_id = fields.UUID()
    video_permission_state = one_of(STATES)
    patient_video_enabled = fields.Boolean()
    consent_round = fields.Integer()


class CallSessionOut(OutSchema):
    id = fields.UUID()
    connect_session_id = fields.UUID()
    call_type = one_of(CALL_TYPES)
    status = one_of(("CONNECTED", ENDED), metadata={"description": "ENDED once the consultation is over"})
    livekit_room_name = fields.String()
    video_permission_state = one_of(STATES)
    patient_video_enabled = fields.Boolean()
    created_at = fields.DateTime()
