"""Analytics queries and answers (reference: Analytics; Admin — User Management)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, validate

from domain.analytics import DateRange, Period
from domain.doctors import avatar_url, duration_display
from domain.sessions import SessionStatus
from schemas.common import BaseSchema
from schemas.doctors import TimeZone
from schemas.out import OutSchema, one_of


class IsoBound(fields.String):
    """An ISO 8601 date (`2026-01-31`: a whole local day) or datetime (`2026-01-31T18:30:00Z`)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date | dt.datetime:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            if len(text) == 10:
                return dt.date.fromisoformat(text)
            return dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("Not a valid ISO 8601 date or datetime.") from None


def _utc() -> ZoneInfo:
    return ZoneInfo("UTC")


class PerformanceQuery(BaseSchema):
    date_range = fields.String(load_default=DateRange.ALL_TIME.value,
                               validate=validate.OneOf([r.value for r in DateRange]))
    timezone = TimeZone(load_default=_utc)


class MetricsQuery(BaseSchema):
    date_from = IsoBound(load_default=None)
    date_to = IsoBound(load_default=None)
    timezone = TimeZone(load_default=_utc)


class TrendsQuery(MetricsQuery):
    period = fields.String(load_default=Period.DAY.value, validate=validate.OneOf([p.value for p in Period]))


def user_session_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """One consultation of the patient's history, with its doctor, duration and billed amount."""
    seconds = row["duration_seconds"]
    doctor = {"id": row["doctor_id"], "avatar_source": row["doctor_avatar_source"],
              "avatar_url": row["doctor_avatar_url"]}
    return {
        "session_id": row["id"], "status": row["status"], "category": row["category"],
        "requested_at": row["requested_at"], "started_at": row["started_at"], "ended_at": row["ended_at"],
        "duration_seconds": None if seconds is None else round(float(seconds), 1),
        "duration_display": duration_display(seconds), "billed_minutes": row["billed_minutes"],
        "billed_amount": row["billed_amount"], "rate_per_minute": row["rate_per_minute"],
        "end_reason": row["end_reason"], "has_review": row["has_review"],
        "doctor": {"id": row["doctor_id"], "full_name": row["doctor_name"], "slug": row["doctor_slug"],
                   "speciality_category": row["doctor_speciality"], "avatar_url": avatar_url(doctor)},
    }




# --- answers (schemas.out) ----------------------------------------------------------------

class UserOverviewOut(OutSchema):
    sessions_count = fields.Integer(metadata={"description": "Completed consultations"})
    followups_count = fields.Integer()
    bmi = fields.Float(allow_none=True)
    doctors_consulted_count = fields.Integer()


class SessionDoctorOut(OutSchema):
    id = fields.UUID()
    full_name = fields.String()
    slug = fields.String()
    speciality_category = fields.String()
    avatar_url = fields.String()


class UserSessionItemOut(OutSchema):
    """One consultation of the patient's history (`user_session_item`)."""
    session_id = fields.UUID()
    status = one_of(SessionStatus)
    category = fields.String(allow_none=True)
    requested_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    duration_display = fields.String(allow_none=True)
    billed_minutes = fields.Integer(allow_none=True)
    billed_amount = fields.Integer(allow_none=True)
    rate_per_minute = fields.Integer()
    end_reason = fields.String(allow_none=True)
    has_review = fields.Boolean()
    doctor = fields.Nested(SessionDoctorOut)


class PerformanceOut(OutSchema):
    date_range = one_of(DateRange)
    timezone = fields.String()
    start = fields.DateTime(allow_none=True, metadata={"description": "null for all_time"})
    end = fields.DateTime(allow_none=True, metadata={"description": "Exclusive; null for all_time"})
    total_sessions = fields.Integer()
    total_minutes = fields.Integer()
    total_earnings = fields.Integer(metadata={"description": "Paise"})
    average_rating = fields.Float(allow_none=True)
    total_reviews = fields.Integer()


class ReviewMetricsOut(OutSchema):
    start = fields.DateTime(allow_none=True)
    end = fields.DateTime(allow_none=True)
    total_reviews = fields.Integer()
    average_rating = fields.Float(allow_none=True)
    replied_count = fields.Integer()
    unreplied_count = fields.Integer()
    reply_rate = fields.Float(metadata={"description": "Percent replied, 1 decimal"})


class TrendBucketOut(OutSchema):
    period_start = fields.Date()
    period_end = fields.Date(metadata={"description": "The bucket's last day"})
    count = fields.Integer()
    average_rating = fields.Float(allow_none=True)


class ReviewTrendsOut(OutSchema):
    period = one_of(Period)
    timezone = fields.String()
    start = fields.DateTime()
    end = fields.DateTime()
    buckets = fields.List(fields.Nested(TrendBucketOut), metadata={"description": "Every bucket, empty ones too"})


StarCountsOut = OutSchema.from_dict({str(star): fields.Integer() for star in range(1, 6)}, name="StarCountsOut")


class RatingDistributionOut(OutSchema):
    distribution = fields.Nested(StarCountsOut, metadata={"description": "Reviews per whole star (4.5 counts as 4)"})
    total_reviews = fields.Integer()
