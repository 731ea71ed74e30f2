"""Catalog search query and the response shapes (medicines, lab tests)."""
from __future__ import annotations

from marshmallow import fields, validate

from schemas.common import BaseSchema, Str


class CatalogSearchQuery(BaseSchema):
    q = Str(required=True, min_len=2, max_len=100)
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=25))


class MedicineSearchItem(BaseSchema):
    id = fields.UUID()
    name = fields.String()
    form = fields.String()
    provider = fields.String()


class MedicineReviews(BaseSchema):
    excellent_pct = fields.Integer(allow_none=True)
    average_pct = fields.Integer(allow_none=True)
    poor_pct = fields.Integer(allow_none=True)


class MedicineDetail(MedicineSearchItem):
    generic_name = fields.String(allow_none=True)
    salts = fields.List(fields.String())
    composition = fields.String()
    manufacturer = fields.String(allow_none=True)
    product_introduction = fields.String(allow_none=True)
    uses = fields.List(fields.String())
    side_effects = fields.List(fields.String(), allow_none=True)
    how_it_works = fields.String(allow_none=True)
    safety_advice = fields.Dict(allow_none=True)
    source_url = fields.String(allow_none=True)
    reviews = fields.Nested(MedicineReviews)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class LabTestSearchItem(BaseSchema):
    id = fields.UUID()
    name = fields.String()
    code = fields.String(allow_none=True)
    provider = fields.String()


class LabTestDetail(LabTestSearchItem):
    aliases = fields.List(fields.String())
    parameters_count = fields.Integer(allow_none=True)
    price = fields.Integer(allow_none=True, metadata={"description": "paise"})
    original_price = fields.Integer(allow_none=True, metadata={"description": "paise"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
