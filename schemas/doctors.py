"""Doctor request schemas (discovery, admin, dashboard, settings) and the response shapes."""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, validate, validates_schema

from domain import doctors as rules
from domain.avatars import patient_preview
from domain.sessions import ENDED, ONGOING, REQUESTED
from schemas.common import BaseSchema, PageQuery, Str

FULL_NAME = dict(min_len=2, max_len=100)
ABOUT_MAX = 600
MAX_RATE = 100_000  # paise per minute (₹1000/min): a typo guard, not a business rule


class Speciality(Str):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        found = rules.canonical_speciality(text)
        if found is None:
            raise ValidationError(f"Must be one of: {', '.join(rules.SPECIALITIES)}.")
        return found


class Language(Str):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        found = rules.canonical_language(text)
        if found is None:
            raise ValidationError(f"Must be one of: {', '.join(rules.LANGUAGES)}.")
        return found


class TimeZone(fields.String):
    """An IANA time zone name → ZoneInfo (unknown → 422)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> ZoneInfo:
        name = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            return ZoneInfo(name)
        except (KeyError, ValueError, OSError):  # not found (a KeyError), malformed, a directory
            raise ValidationError("Unknown IANA time zone.") from None


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class _ProfileFields(BaseSchema):
    """The fields a doctor may edit on their own profile (reference constraints)."""
    full_name = Str(**FULL_NAME)
    years_experience = fields.Integer(strict=True, validate=validate.Range(min=0, max=60))
    about_short = Str(max_len=ABOUT_MAX, allow_none=True)
    degrees = fields.List(Str(min_len=1, max_len=50), validate=validate.Length(min=1, max=20))
    speciality_category = Speciality()
    languages = fields.List(Language(), validate=validate.Length(min=1, max=len(rules.LANGUAGES)))
    registration_number = Str(min_len=6, max_len=50)


class ProfileUpdate(_ProfileFields):
    pass


class DoctorCreate(_ProfileFields):
    full_name = Str(required=True, **FULL_NAME)
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=8, max=128))
    speciality_category = Speciality(required=True)
    rate_per_minute = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=MAX_RATE))
    degrees = fields.List(Str(min_len=1, max_len=50), load_default=list, validate=validate.Length(min=1, max=20))
    languages = fields.List(Language(), load_default=list,
                            validate=validate.Length(min=1, max=len(rules.LANGUAGES)))
    years_experience = fields.Integer(strict=True, load_default=0, validate=validate.Range(min=0, max=60))
    is_featured = fields.Boolean(load_default=False)
    is_active = fields.Boolean(load_default=True)
    chat_enabled = fields.Boolean(load_default=True)
    call_enabled = fields.Boolean(load_default=True)


class DoctorUpdate(_ProfileFields):
    email = fields.Email(validate=validate.Length(max=254))
    password = fields.String(validate=validate.Length(min=8, max=128))
    rate_per_minute = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_RATE))
    is_featured = fields.Boolean()
    is_active = fields.Boolean()
    chat_enabled = fields.Boolean()
    call_enabled = fields.Boolean()


def clean_profile(data: dict[str, Any]) -> dict[str, Any]:
    """Normalise parsed profile fields: lower-case email, no duplicate list entries."""
    out = dict(data)
    if "email" in out:
        out["email"] = out["email"].strip().lower()
    for key in ("degrees", "languages"):
        if key in out:
            out[key] = _unique(out[key])
    return out


# --- discovery queries --------------------------------------------------------------------

class SearchQuery(BaseSchema):
    q = Str(required=True, min_len=1, max_len=100)
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=25))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class ListQuery(BaseSchema):
    skip = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    favourites_first = fields.Boolean(load_default=False)
    favourites_only = fields.Boolean(load_default=False)


class AllDoctorsQuery(BaseSchema):
    status = fields.String(validate=validate.OneOf(rules.PRESENCE_STATES))
    category = Str(max_len=100)
    available_for = fields.String(validate=validate.OneOf(("chat", "call")))
    featured_only = fields.Boolean(load_default=False)
    sort_by = fields.String(validate=validate.OneOf(("rate", "rating", "experience")))
    sort_order = fields.String(load_default="asc", validate=validate.OneOf(("asc", "desc")))
    skip = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100))


class ReviewsQuery(PageQuery):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


class FavouritesQuery(BaseSchema):
    skip = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


class FavouriteAction(BaseSchema):
    action = fields.String(required=True, validate=validate.OneOf(("add", "remove")))


# --- dashboard and presence ---------------------------------------------------------------

class OverviewQuery(BaseSchema):
    timezone = TimeZone(load_default=lambda: ZoneInfo("UTC"))


class _SessionStatus(fields.String):
    """REQUESTED | ONGOING | ENDED | all, in any letter case."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        return "all" if text.lower() == "all" else text.upper()


class SessionsQuery(BaseSchema):
    status = _SessionStatus(load_default="all",
                            validate=validate.OneOf((REQUESTED, ONGOING, ENDED, "all")))
    from_date = fields.Date()
    to_date = fields.Date()
    has_followup = fields.Boolean()
    timezone = TimeZone(load_default=lambda: ZoneInfo("UTC"))
    skip = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))

    @validates_schema
    def _dates_in_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        first, last = data.get("from_date"), data.get("to_date")
        if first and last and first > last:
            raise ValidationError("from_date must not be after to_date.", "from_date")


class RecentQuery(BaseSchema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    timezone = TimeZone(load_default=lambda: ZoneInfo("UTC"))


class OnlineBody(BaseSchema):
    online = fields.Boolean(required=True, allow_none=False)


class _Lowered(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class PresenceBody(BaseSchema):
    presence_status = _Lowered(required=True, validate=validate.OneOf(
        tuple(rules.SETTABLE_PRESENCE), error="Must be one of: online, offline (BUSY is set by the server)."))


class AvailabilityBody(BaseSchema):
    chat_enabled = fields.Boolean()
    call_enabled = fields.Boolean()


# --- responses ----------------------------------------------------------------------------

def doctor_out(d: Mapping[str, Any], is_favourite: bool = False) -> dict[str, Any]:
    """DoctorOut: the list and search item."""
    return {
        "id": d["id"],
        "full_name": d["full_name"],
        "slug": d["slug"],
        "speciality_category": d["speciality_category"],
        "degrees": list(d["degrees"] or []),
        "languages": list(d["languages"] or []),
        "rating": round(float(d["rating"] or 0), 2),
        "total_reviews": d["total_reviews"],
        "years_experience": d["years_experience"],
        "rate_per_minute": d["rate_per_minute"],
        "presence_status": d["presence_status"],
        "chat_enabled": d["chat_enabled"],
        "call_enabled": d["call_enabled"],
        "is_featured": d["is_featured"],
        "avatar_url": rules.avatar_url(d),
        "is_favourite": is_favourite,
    }


def doctor_detail_out(d: Mapping[str, Any], is_favourite: bool = False) -> dict[str, Any]:
    """DoctorDetailOut: one doctor's public profile."""
    out = doctor_out(d, is_favourite)
    out.update(about_short=d["about_short"], registration_number=d["registration_number"],
               total_sessions=d["total_sessions"])
    return out


def doctor_admin_out(d: Mapping[str, Any]) -> dict[str, Any]:
    """DoctorDetailOut plus what only an admin (and the doctor) sees."""
    out = doctor_detail_out(d)
    out.update(email=d["email"], is_active=d["is_active"], created_at=d["created_at"],
               updated_at=d["updated_at"])
    return out


def doctor_profile_out(d: Mapping[str, Any]) -> dict[str, Any]:
    """GET/PATCH /doctors/me/profile: the doctor's own view."""
    out = doctor_admin_out(d)
    out.update(rules.availability(d))
    return out


def overview_doctor(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": d["id"], "name": d["full_name"], "full_name": d["full_name"], "slug": d["slug"],
        "speciality_category": d["speciality_category"], "avatar_url": rules.avatar_url(d),
        "presence_status": d["presence_status"], "rating": round(float(d["rating"] or 0), 2),
        "total_reviews": d["total_reviews"], "total_sessions": d["total_sessions"],
        "rate_per_minute": d["rate_per_minute"], "total_earnings": d["earnings_paise"],
    }


def review_item(r: Mapping[str, Any]) -> dict[str, Any]:
    """ReviewListItem: never the patient's name."""
    return {
        "id": r["id"],
        "rating": float(r["rating"]),
        "comment": r["comment"],
        "patient_name_masked": rules.mask_patient_name(r["patient_id"]),
        "reply_text": r["reply_text"],
        "replied_at": r["replied_at"],
        "created_at": r["created_at"],
    }


def local_iso(value: dt.datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat() if value is not None else None


def patient_brief(patient: Mapping[str, Any]) -> dict[str, Any]:
    """The dashboard's patient preview: {id, name, gender, age, avatar_url} (+ initials)."""
    preview = patient_preview(patient)
    return {"id": preview["user_id"], "name": preview["name"], "gender": preview["sex"],
            "age": preview["age"], "initials": preview["initials"], "avatar_url": preview["avatar_url"]}


def doctor_session_item(row: Mapping[str, Any], now: dt.datetime, zone: ZoneInfo) -> dict[str, Any]:
    """One of the doctor's sessions (history and recent lists)."""
    seconds = rules.session_duration(row, now)
    return {
        "session_id": row["id"],
        "status": row["status"],
        "category": row["category"],
        "symptoms": list(row["symptoms"] or []),
        "rate_per_minute": row["rate_per_minute"],
        "requested_at": row["requested_at"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "started_at_local": local_iso(row["started_at"], zone),
        "duration_seconds": None if seconds is None else round(seconds, 1),
        "duration_display": rules.duration_display(seconds),
        "billed_amount": row["billed_amount"],
        "end_reason": row["end_reason"],
        "has_followup": row["has_followup"],
        "patient": patient_brief(row["patient"]),
    }
