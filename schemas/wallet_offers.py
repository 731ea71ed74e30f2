"""Wallet offers: the admin's bodies (INR decimals in, integer paise out of parsing), the list query,
and the offer shape (paise, plus INR strings).

The admin body is the one place the contract takes INR decimals: it is parsed with
`parse_float=Decimal` (`parse_inr_body`), so an amount never passes through a float; more than two
decimals is 422, never rounded.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Mapping

from aiohttp import web
from marshmallow import ValidationError, fields, validate, validates_schema

from domain.errors import UnsupportedMediaType, ValidationFailed
from domain.money import MAX_ORDER_PAISE, inr_text, inr_to_paise
from schemas.common import BaseSchema, PageQuery, Str, load
from schemas.out import OutSchema


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


class Inr(fields.Field):
    """An INR amount as a JSON number with at most two decimals → integer paise."""

    def __init__(self, *, min_paise: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_paise = min_paise

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise ValidationError("Not a valid number.")
        try:
            paise = inr_to_paise(value)
        except ValueError:
            raise ValidationError("At most two decimal places (paise).") from None
        if paise < self.min_paise:
            raise ValidationError("Must be greater than 0." if self.min_paise else "Must not be negative.")
        if paise > MAX_ORDER_PAISE:
            raise ValidationError(f"Must be at most {inr_text(MAX_ORDER_PAISE)}.")
        return paise


class OfferCreate(BaseSchema):
    title = Str(required=True, min_len=1, max_len=200)
    description = Str(max_len=1000, allow_none=True, load_default=None)
    amount = Inr(required=True, min_paise=1)
    bonus_amount = Inr(min_paise=0, load_default=0)
    valid_from = fields.Date(required=True)
    valid_until = fields.Date(required=True)
    is_active = fields.Boolean(load_default=True)

    @validates_schema
    def _validity(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "valid_from" in data and "valid_until" in data and data["valid_from"] > data["valid_until"]:
            raise ValidationError("valid_until must not be before valid_from", "valid_until")


class OfferUpdate(BaseSchema):
    title = Str(min_len=1, max_len=200)
    description = Str(max_len=1000, allow_none=True)
    amount = Inr(min_paise=1)
    bonus_amount = Inr(min_paise=0)
    valid_from = fields.Date()
    valid_until = fields.Date()
    is_active = fields.Boolean()


class AdminOfferQuery(PageQuery):
    is_active = fields.Boolean()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


async def parse_inr_body(request: web.Request, schema: type[BaseSchema], *, optional: bool = False) -> dict[str, Any]:
    """Like schemas.common.parse_body, with JSON numbers parsed as Decimal (and NaN/Infinity refused)."""
    raw = await request.read()
    data: Any = {}
    if raw.strip():
        ctype = request.content_type
        if ctype not in ("application/json", "application/octet-stream", "text/plain") and not ctype.endswith("+json"):
            raise UnsupportedMediaType(f"Expected application/json, got {ctype}")
        try:
            data = json.loads(raw, parse_float=Decimal, parse_constant=_no_constants)
        except ValueError:
            raise ValidationFailed([{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]) from None
    elif not optional:
        raise ValidationFailed([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    if not isinstance(data, dict):
        raise ValidationFailed([{"loc": ["body"], "msg": "Input should be a valid object",
                                 "type": "model_attributes_type"}])
    return load(schema, data, "body")


def offer_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "description": row["description"],
        "amount": row["amount"],
        "bonus_amount": row["bonus_amount"],
        "total_credit": row["amount"] + row["bonus_amount"],
        "amount_inr": inr_text(row["amount"]),
        "bonus_amount_inr": inr_text(row["bonus_amount"]),
        "valid_from": row["valid_from"].isoformat(),
        "valid_until": row["valid_until"].isoformat(),
        "is_active": row["is_active"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


class OfferOut(OutSchema):
    """An offer: amounts in paise, and as INR text."""
    id = fields.UUID()
    title = fields.String()
    description = fields.String(allow_none=True)
    amount = fields.Integer(metadata={"description": "Paise paid"})
    bonus_amount = fields.Integer(metadata={"description": "Paise credited on top"})
    total_credit = fields.Integer()
    amount_inr = fields.String(metadata={"example": "500.00"})
    bonus_amount_inr = fields.String(metadata={"example": "50.00"})
    valid_from = fields.Date()
    valid_until = fields.Date()
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
