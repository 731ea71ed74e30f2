"""UserOut (the reference's shape) and the profile update body."""
from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields, validate

from domain.avatars import SYSTEM_SOURCE, USER_SOURCE, system_avatar_url
from domain.profile import SEXES, bmi, is_profile_completed, profile_completion
from schemas.common import BaseSchema, Str
from schemas.out import OutSchema, one_of

AVATAR_SOURCES = (SYSTEM_SOURCE, USER_SOURCE)


class UserUpdateIn(BaseSchema):
    """All optional; null clears a field, except the name, which cannot be emptied."""

    full_name = Str(min_len=1, max_len=100)
    email = Str(allow_none=True, max_len=254, validate=[validate.Email(error="Not a valid email address.")])
    age = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=150))
    sex = Str(allow_none=True, validate=[validate.OneOf(SEXES)])
    height_cm = fields.Float(allow_none=True, validate=validate.Range(min=50.0, max=300.0))
    weight_kg = fields.Float(allow_none=True, validate=validate.Range(min=10.0, max=500.0))


def user_avatar_url(user: Mapping[str, Any]) -> str:
    if user.get("avatar_source") == "user" and user.get("avatar_url"):
        return user["avatar_url"]
    return system_avatar_url(user["id"], user.get("sex"))


def user_out(user: Mapping[str, Any]) -> dict[str, Any]:
    """GET /users/me and everything else that shows a patient their own profile."""
    return {
        "id": user["id"],
        "full_name": user["full_name"],
        "phone": user["phone"],
        "email": user["email"],
        "avatar_url": user_avatar_url(user),
        "avatar_source": user["avatar_source"],
        "member_since": user["created_at"],
        "is_phone_verified": user["is_phone_verified"],
        "profile_completed": is_profile_completed(user),
        "profile_completion": profile_completion(user),
        "age": user["age"],
        "sex": user["sex"],
        "height_cm": user["height_cm"],
        "weight_kg": user["weight_kg"],
        "bmi": bmi(user["height_cm"], user["weight_kg"]),
    }


class UserOut(OutSchema):
    """What `user_out` returns (the reference's UserOut)."""
    id = fields.UUID()
    full_name = fields.String(allow_none=True)
    phone = fields.String(metadata={"description": "E.164"})
    email = fields.String(allow_none=True)
    avatar_url = fields.String(metadata={"description": "The user's upload, else a system avatar"})
    avatar_source = one_of(AVATAR_SOURCES)
    member_since = fields.DateTime()
    is_phone_verified = fields.Boolean()
    profile_completed = fields.Boolean(metadata={"description": "sex and age are set"})
    profile_completion = fields.Float(metadata={"description": "Share of profile fields filled, 0.0 to 1.0"})
    age = fields.Integer(allow_none=True)
    sex = one_of(SEXES, allow_none=True)
    height_cm = fields.Float(allow_none=True)
    weight_kg = fields.Float(allow_none=True)
    bmi = fields.Float(allow_none=True, metadata={"description": "weight / height(m)², 1 decimal; null unless both"})


class AvatarOut(OutSchema):
    """POST / DELETE of an avatar (patients and doctors)."""
    avatar_url = fields.String()
    avatar_source = one_of(AVATAR_SOURCES)
