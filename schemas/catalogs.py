"""Catalog search query and the detail response shapes (medicines, lab tests).

Search items are the bare [{id, name, form, provider}] / [{id, name, code, provider}] rows of
storage.catalogs, returned as they are.
"""
from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields, validate

from schemas.common import BaseSchema, Str


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
