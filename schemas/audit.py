"""The admin audit log: list query and row shape."""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from marshmallow import ValidationError, fields, validates_schema

from schemas.common import PageQuery, Str
from schemas.out import OutSchema


class AuditLogQuery(PageQuery):
    actor_id = fields.UUID()
    target_type = Str(min_len=1, max_len=50)
    target_id = Str(min_len=1, max_len=100)
    action = Str(min_len=1, max_len=100)
    # Inclusive from, exclusive to; an ISO datetime (UTC if no offset) or a date (its midnight UTC).
    date_from = fields.AwareDateTime(default_timezone=dt.timezone.utc)
    date_to = fields.AwareDateTime(default_timezone=dt.timezone.utc)

    @validates_schema
    def _range_in_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationError("date_from must not be after date_to", "date_to")


def audit_row_out(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "actor_id": r["actor_id"], "actor_role": r["actor_role"], "action": r["action"],
            "target_type": r["target_type"], "target_id": r["target_id"], "request_id": r["request_id"],
            "ip": r["ip"], "changed_fields": list(r["changed_fields"] or []), "created_at": r["created_at"]}


class AuditRowOut(OutSchema):
    id = fields.Integer()
    actor_id = fields.UUID()
    actor_role = fields.String()
    action = fields.String(metadata={"example": "user.status.update"})
    target_type = fields.String()
    target_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    changed_fields = fields.List(fields.String(), metadata={"description": "Field names, never values"})
    created_at = fields.DateTime()
