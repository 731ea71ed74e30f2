"""Request bodies and the token pair of the auth endpoints."""
from __future__ import annotations

from typing import Any

import phonenumbers
from marshmallow import ValidationError, fields, validate

from domain.tokens import TokenPair
from schemas.common import BaseSchema, Str
from schemas.out import OutSchema, one_of

PLATFORMS = ("android", "ios")
E164_MESSAGE = "Phone must be a valid number in E.164 format, e.g. +918090839108"


def normalize_phone(raw: str) -> str | None:
    """E.164 form of a valid international number ("+91 80908 39108" → "+918090839108"), else None."""
    if not raw.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Phone(Str):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        if len(raw) > 32 or (phone := normalize_phone(raw)) is None:
            raise ValidationError(E164_MESSAGE)
        return phone


class LowerStr(Str):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).lower()


def password_field() -> fields.String:
    # Not trimmed: spaces are part of a password.
    return fields.String(required=True, validate=validate.Length(min=1, max=1024))


class RequestOtpIn(BaseSchema):
    phone = Phone(required=True)
    platform = LowerStr(load_default=None, allow_none=True, validate=[validate.OneOf(PLATFORMS)])


class VerifyOtpIn(BaseSchema):
    phone = Phone(required=True)
    code = Str(required=True, validate=[validate.Regexp(r"^[0-9]{6}$", error="Code must be 6 digits")])
    name = Str(load_default=None, allow_none=True, max_len=100)


class DoctorLoginIn(BaseSchema):
    email = Str(required=True, min_len=1, max_len=320)
    password = password_field()


class AdminLoginIn(BaseSchema):
    username = Str(required=True, min_len=1, max_len=320)
    password = password_field()


class RefreshIn(BaseSchema):
    refresh_token = Str(required=True, min_len=1, max_len=4096)


def token_pair_out(pair: TokenPair) -> dict[str, str]:
    return {"access_token": pair.access_token, "refresh_token": pair.refresh_token, "token_type": "bearer"}


def admin_out(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "username": row["username"], "email": row["email"], "full_name": row["full_name"],
            "is_active": row["is_active"], "created_at": row["created_at"]}


# --- answers (schemas.out) ----------------------------------------------------------------

class TokenPairOut(OutSchema):
    access_token = fields.String(metadata={"description": "JWT, sent as `Authorization: Bearer ...`"})
    refresh_token = fields.String(metadata={"description": "JWT for POST /auth/refresh (used once)"})
    token_type = one_of(("bearer",))


class AdminOut(OutSchema):
    id = fields.UUID()
    username = fields.String()
    email = fields.String(allow_none=True)
    full_name = fields.String(allow_none=True)
    is_active = fields.Boolean()
    created_at = fields.DateTime()


TOKEN_PAIR_EXAMPLE = {
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI2NDQ0NTJhYyIsInJvbGUiOiJjbGllbnQifQ.c2ln",
    "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0eXBlIjoicmVmcmVzaCJ9.c2ln",
    "token_type": "bearer",
}
