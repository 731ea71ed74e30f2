"""The doctor answers of schemas/doctors.py (`doctor_out`, `doctor_detail_out`, the dashboard's
shapes), field by field (schemas.out)."""
from __future__ import annotations

from marshmallow import fields

from domain import doctors as rules
from domain.profile import SEXES
from domain.sessions import SessionStatus
from schemas.out import OutSchema, one_of


class DoctorOut(OutSchema):
    """DoctorOut: the list and search item (`doctor_out`)."""
    id = fields.UUID()
    full_name = fields.String()
    slug = fields.String()
    speciality_category = fields.String()
    degrees = fields.List(fields.String())
    languages = fields.List(fields.String())
    rating = fields.Float(metadata={"description": "Average review rating, 0 without reviews"})
    total_reviews = fields.Integer()
    years_experience = fields.Integer()
    rate_per_minute = fields.Integer(metadata={"description": "Paise per minute"})
    presence_status = one_of(rules.PRESENCE_STATES)
    chat_enabled = fields.Boolean()
    call_enabled = fields.Boolean()
    is_featured = fields.Boolean()
    avatar_url = fields.String()
    is_favourite = fields.Boolean(metadata={"description": "Filled for a patient's token, else false"})


class DoctorDetailOut(DoctorOut):
    """DoctorDetailOut: one doctor's public profile."""
    about_short = fields.String(allow_none=True)
    registration_number = fields.String(allow_none=True)
    total_sessions = fields.Integer()


class DoctorAdminOut(DoctorDetailOut):
    """DoctorDetailOut plus what only an admin (and the doctor) sees."""
    email = fields.String()
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AvailabilityOut(OutSchema):
    is_online = fields.Boolean()
    presence_status = one_of(rules.PRESENCE_STATES)
    chat_enabled = fields.Boolean()
    call_enabled = fields.Boolean()


class DoctorProfileOut(DoctorAdminOut, AvailabilityOut):
    """GET/PATCH /doctors/me/profile: the doctor's own view, with availability."""


class OverviewDoctorOut(OutSchema):
    id = fields.UUID()
    name = fields.String()
    full_name = fields.String()
    slug = fields.String()
    speciality_category = fields.String()
    avatar_url = fields.String()
    presence_status = one_of(rules.PRESENCE_STATES)
    rating = fields.Float()
    total_reviews = fields.Integer()
    total_sessions = fields.Integer()
    rate_per_minute = fields.Integer()
    total_earnings = fields.Integer(metadata={"description": "Paise earned, all time"})


class OverviewMetricsOut(OutSchema):
    todays_sessions = fields.Integer(metadata={"description": "Consultations started today"})
    ongoing = fields.Integer()
    pending = fields.Integer(metadata={"description": "Live requests now"})
    missed = fields.Integer(metadata={"description": "Requests made today that were rejected or expired"})


class DoctorOverviewOut(OutSchema):
    """DoctorOverviewResponse; "today" in the query's time zone."""
    doctor = fields.Nested(OverviewDoctorOut)
    availability = fields.Nested(AvailabilityOut)
    metrics = fields.Nested(OverviewMetricsOut)


class ReviewListItemOut(OutSchema):
    """ReviewListItem: never the patient's name."""
    id = fields.UUID()
    rating = fields.Float()
    comment = fields.String(allow_none=True)
    patient_name_masked = fields.String(metadata={"example": "User****3d3"})
    reply_text = fields.String(allow_none=True)
    replied_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class PatientBriefOut(OutSchema):
    """The dashboard's patient preview."""
    id = fields.UUID()
    name = fields.String(allow_none=True)
    gender = one_of(SEXES, allow_none=True)
    age = fields.Integer(allow_none=True)
    initials = fields.String()
    avatar_url = fields.String()


class DoctorSessionItemOut(OutSchema):
    """One of the doctor's sessions (history and recent lists)."""
    session_id = fields.UUID()
    status = one_of(SessionStatus, metadata={"description": "A REQUESTED session past its expiry shows EXPIRED"})
    category = fields.String(allow_none=True)
    symptoms = fields.List(fields.String())
    rate_per_minute = fields.Integer()
    requested_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    started_at_local = fields.DateTime(allow_none=True, metadata={"description": "started_at in the query's zone"})
    duration_seconds = fields.Float(allow_none=True)
    duration_display = fields.String(allow_none=True, metadata={"example": "37m 7s"})
    billed_amount = fields.Integer(allow_none=True)
    end_reason = fields.String(allow_none=True)
    has_followup = fields.Boolean()
    patient = fields.Nested(PatientBriefOut)


class FavouriteOut(OutSchema):
    doctor_id = fields.UUID()
    is_favourite = fields.Boolean()
