"""Review bodies, the doctor's review list query, and the review shapes (reference: Reviews; Connect
Now v2 — Post-Session; Doctors — Review Management)."""
from __future__ import annotations

from typing import Any, Mapping
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, post_load, validate

from domain import reviews as rules
from domain.doctors import mask_patient_name
from domain.reviews import ReviewSort
from schemas.analytics import IsoBound
from schemas.common import BaseSchema, Str
from schemas.out import OutSchema
from schemas.doctors import TimeZone



def _rating(value: float) -> None:
    if not rules.is_valid_rating(value):
        raise ValidationError("Must be from 1.0 to 5.0 in steps of 0.5.")


class ReviewIn(BaseSchema):
    rating = fields.Float(required=True, allow_nan=False, validate=_rating)
    comment = Str(load_default=None, allow_none=True, max_len=rules.COMMENT_MAX)

    @post_load
    def _check(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("comment") == "":
            data["comment"] = None
        return data


class ReviewCreate(ReviewIn):
    session_id = fields.UUID(required=True)


class ReplyIn(BaseSchema):
    text = Str(required=True, max_len=rules.REPLY_MAX)


class MyReviewsQuery(BaseSchema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))
    rating = fields.Integer(load_default=None, validate=validate.Range(min=1, max=5))
    has_reply = fields.Boolean(load_default=None)
    date_from = IsoBound(load_default=None)
    date_to = IsoBound(load_default=None)
    sort_by = fields.String(load_default=ReviewSort.DATE_DESC.value,
                            validate=validate.OneOf([s.value for s in ReviewSort]))
    timezone = TimeZone(load_default=lambda: ZoneInfo("UTC"))  # of date-only bounds


def review_out(row: Mapping[str, Any]) -> dict[str, Any]:
    """ReviewOut: `session_id` is the v1 session (always null for a connect session)."""
    return {"id": row["id"], "connect_session_id": row["connect_session_id"], "session_id": None,
            "doctor_id": row["doctor_id"], "rating": float(row["rating"]), "comment": row["comment"],
            "created_at": row["created_at"]}


def my_review_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """A review on the doctor's dashboard: the patient masked as in public, the reply if any."""
    return {
        "id": row["id"], "connect_session_id": row["connect_session_id"], "rating": float(row["rating"]),
        "star": rules.star(float(row["rating"])), "comment": row["comment"],
        "patient_name_masked": mask_patient_name(row["patient_id"]),
        "has_reply": row["reply_text"] is not None, "reply_text": row["reply_text"], "replied_at": row["replied_at"],
        "reply_updated_at": row["reply_updated_at"], "created_at": row["created_at"],
    }


class ReviewOut(OutSchema):
    id = fields.UUID()
    connect_session_id = fields.UUID()
    session_id = fields.UUID(allow_none=True, metadata={"description": "The v1 session: always null here"})
    doctor_id = fields.UUID()
    rating = fields.Float()
    comment = fields.String(allow_none=True)
    created_at = fields.DateTime()


class MyReviewItemOut(OutSchema):
    """A review on the doctor's dashboard: the patient masked as in public, the reply if any."""
    id = fields.UUID()
    connect_session_id = fields.UUID()
    rating = fields.Float()
    star = fields.Integer(metadata={"description": "The whole star it counts in (4.5 → 4)"})
    comment = fields.String(allow_none=True)
    patient_name_masked = fields.String()
    has_reply = fields.Boolean()
    reply_text = fields.String(allow_none=True)
    replied_at = fields.DateTime(allow_none=True)
    reply_updated_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class NotificationResultOut(OutSchema):
    sent = fields.Boolean()
    devices = fields.Integer(metadata={"description": "Active devices the push was queued for"})
    event = fields.String(metadata={"example": "review.reminder"})
