"""Follow-up bodies, the list query and FollowupOut (reference: Follow-ups; Connect Now v2 —
Post-Session). Dates `YYYY-MM-DD`, times `HH:MM:SS` (local to `scheduled_timezone`)."""
from __future__ import annotations

from typing import Any, Mapping
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from domain.followups import DEFAULT_TIMEZONE, FollowupStatus, Schedule
from schemas.common import BaseSchema, PageQuery, Str
from schemas.doctors import TimeZone
from schemas.out import OutSchema, one_of

RESPONSES = ("accept", "reject", "reschedule")


class ScheduleIn(BaseSchema):
    scheduled_date = fields.Date(required=True)
    scheduled_time = fields.Time(load_default=None, allow_none=True)
    scheduled_timezone = TimeZone(load_default=lambda: ZoneInfo(DEFAULT_TIMEZONE))

    @post_load
    def _schedule(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["schedule"] = Schedule(data["scheduled_date"], data["scheduled_time"], data["scheduled_timezone"])
        return data


class FollowupCreate(ScheduleIn):
    parent_session_id = fields.UUID(required=True)


class RespondIn(BaseSchema):
    action = fields.String(required=True, validate=validate.OneOf(RESPONSES))
    proposed_date = fields.Date(load_default=None, allow_none=True)
    proposed_time = fields.Time(load_default=None, allow_none=True)

    @validates_schema
    def _proposal(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("action") == "reschedule" and data.get("proposed_date") is None:
            raise ValidationError("Required when action is reschedule", field_name="proposed_date")


class RescheduleResponseIn(BaseSchema):
    accept = fields.Boolean(required=True, allow_none=False)


class CancelIn(BaseSchema):
    reason = Str(load_default=None, allow_none=True, max_len=500)

    @post_load
    def _blank(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("reason") == "":
            data["reason"] = None
        return data


class FollowupsQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in FollowupStatus]))
    upcoming = fields.Boolean(load_default=False)
    past = fields.Boolean(load_default=False)

    @validates_schema
    def _one_side(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("upcoming") and data.get("past"):
            raise ValidationError("upcoming and past exclude each other", field_name="past")


def followup_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "parent_session_id": row["parent_session_id"],
        "connect_session_id": row["parent_session_id"],
        "doctor_id": row["doctor_id"],
        "patient_id": row["patient_id"],
        "doctor": {"id": row["doctor_id"], "full_name": row["doctor_name"],
                   "speciality_category": row["doctor_speciality"]},
        "patient": {"id": row["patient_id"], "name": row["patient_name"]},
        "status": row["status"],
        "scheduled_date": row["scheduled_date"],
        "scheduled_time": row["scheduled_time"],
        "scheduled_timezone": row["scheduled_timezone"],
        "scheduled_at": row["past_at"] if row["scheduled_time"] is not None else None,
        "proposed_date": row["proposed_date"],
        "proposed_time": row["proposed_time"],
        "cancel_reason": row["cancel_reason"],
        "cancelled_by": row["cancelled_by"],
        "reminder_sent_at": row["reminder_sent_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


class FollowupDoctorOut(OutSchema):
    id = fields.UUID()
    full_name = fields.String()
    speciality_category = fields.String()


class FollowupPatientOut(OutSchema):
    id = fields.UUID()
    name = fields.String(allow_none=True)


class FollowupOut(OutSchema):
    id = fields.UUID()
    parent_session_id = fields.UUID()
    connect_session_id = fields.UUID(metadata={"description": "The same as parent_session_id"})
    doctor_id = fields.UUID()
    patient_id = fields.UUID()
    doctor = fields.Nested(FollowupDoctorOut)
    patient = fields.Nested(FollowupPatientOut)
    status = one_of(FollowupStatus)
    scheduled_date = fields.Date()
    scheduled_time = fields.Time(allow_none=True, metadata={"description": "HH:MM:SS, local to scheduled_timezone"})
    scheduled_timezone = fields.String()
    scheduled_at = fields.DateTime(allow_none=True, metadata={"description": "The instant, when a time is set"})
    proposed_date = fields.Date(allow_none=True)
    proposed_time = fields.Time(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    cancelled_by = one_of(("client", "doctor"), allow_none=True)
    reminder_sent_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
