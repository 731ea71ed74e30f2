"""Device token bodies in, the reference's DeviceTokenOut out."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from schemas.common import BaseSchema, Str
from schemas.out import OutSchema, one_of

PLATFORMS = ("android", "ios")


class DeviceTokenRegister(BaseSchema):
    token = Str(required=True, min_len=1, max_len=4096)
    platform = Str(required=True, validate=[validate.OneOf(PLATFORMS)])
    app_version = Str(load_default=None, allow_none=True, max_len=64)


class DeviceTokenRemove(BaseSchema):
    token = Str(required=True, min_len=1, max_len=4096)


def device_token_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "role": row["role"],
        "platform": row["platform"],
        "app_version": row["app_version"],
        "is_active": row["is_active"],
    }


class DeviceTokenOut(OutSchema):
    id = fields.UUID()
    user_id = fields.UUID()
    role = one_of(("client", "doctor", "admin"))
    platform = one_of(PLATFORMS)
    app_version = fields.String(allow_none=True)
    is_active = fields.Boolean()


class DeactivatedOut(OutSchema):
    deactivated = fields.Integer(metadata={"description": "1 for the caller's active token, else 0"})
