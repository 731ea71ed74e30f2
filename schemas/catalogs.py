"""Catalog search query and the detail response shapes (medicines, lab tests).

Search items are the bare [{id, name, form, provider}] / [{id, name, code, provider}] rows of
storage.catalogs, returned as they are.
"""
from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields, validate

from schemas.common import BaseSchema, Str
from schemas.out import OutSchema


class CatalogSearchQuery(BaseSchema):
    q = Str(required=True, min_len=2, max_len=100)
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=25))


def medicine_detail_out(row: Mapping[str, Any]) -> dict[str, Any]:
    """The reference's fields (product_introduction, uses, how_it_works, safety_advice, source_url,
    created_at...) plus what the catalog also knows (salts, manufacturer, side effects, reviews)."""
    out = {key: value for key, value in row.items() if not key.startswith("review_")}
    out["reviews"] = {"excellent_pct": row["review_excellent_pct"], "average_pct": row["review_average_pct"],
                      "poor_pct": row["review_poor_pct"]}
    return out


def lab_test_detail_out(row: Mapping[str, Any]) -> dict[str, Any]:
    """Prices in paise, like every amount of the API."""
    out = {key: value for key, value in row.items() if not key.endswith("price_paise")}
    out["price"] = row["price_paise"]
    out["original_price"] = row["original_price_paise"]
    return out


class MedicineItemOut(OutSchema):
    id = fields.UUID()
    name = fields.String()
    form = fields.String(metadata={"example": "tablet"})
    provider = fields.String()


class LabTestItemOut(OutSchema):
    id = fields.UUID()
    name = fields.String()
    code = fields.String(allow_none=True)
    provider = fields.String()


class MedicineReviewsOut(OutSchema):
    excellent_pct = fields.Integer(allow_none=True)
    average_pct = fields.Integer(allow_none=True)
    poor_pct = fields.Integer(allow_none=True)


class MedicineDetailOut(OutSchema):
    id = fields.UUID()
    name = fields.String()
    form = fields.String()
    provider = fields.String()
    generic_name = fields.String(allow_none=True)
    salts = fields.List(fields.String())
    composition = fields.String()
    manufacturer = fields.String(allow_none=True)
    product_introduction = fields.String(allow_none=True)
    uses = fields.List(fields.String())
    side_effects = fields.List(fields.String(), allow_none=True)
    how_it_works = fields.String(allow_none=True)
    safety_advice = fields.Raw(allow_none=True, metadata={"description": "As the source gives it (JSON)"})
    source_url = fields.String(allow_none=True)
    reviews = fields.Nested(MedicineReviewsOut)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class LabTestDetailOut(OutSchema):
    id = fields.UUID()
    name = fields.String()
    code = fields.String(allow_none=True)
    provider = fields.String()
    aliases = fields.List(fields.String())
    parameters_count = fields.Integer(allow_none=True)
    price = fields.Integer(allow_none=True, metadata={"description": "Paise"})
    original_price = fields.Integer(allow_none=True, metadata={"description": "Paise"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
