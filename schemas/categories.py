"""Health categories: admin bodies, list queries and the response shape."""
from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields, validate

from schemas.common import BaseSchema, PageQuery, Str
from schemas.out import OutSchema


class CategoryCreate(BaseSchema):
    name = Str(required=True, min_len=1, max_len=100)
    description = Str(max_len=500, allow_none=True, load_default=None)
    is_active = fields.Boolean(load_default=True)


class CategoryUpdate(BaseSchema):
    name = Str(min_len=1, max_len=100)
    description = Str(max_len=500, allow_none=True)
    is_active = fields.Boolean()


class AdminCategoryQuery(PageQuery):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    is_active = fields.Boolean()
    q = Str(min_len=1, max_len=100)


class HealthCategoryQuery(PageQuery):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100))


def category_out(c: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": c["id"], "name": c["name"], "description": c["description"], "is_active": c["is_active"],
            "created_at": c["created_at"], "updated_at": c["updated_at"]}


class CategoryOut(OutSchema):
    id = fields.UUID()
    name = fields.String()
    description = fields.String(allow_none=True)
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
