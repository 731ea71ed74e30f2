"""Payment orders (wallet top-ups): the create body, list queries, and the order / recharge shapes.
Amounts are integer paise."""
from __future__ import annotations

from typing import Any, Mapping

from marshmallow import fields, validate

from domain.money import MAX_ORDER_PAISE, MIN_ORDER_PAISE, OrderStatus
from schemas.common import BaseSchema, PageQuery
from schemas.out import OutSchema, one_of

# Our order ids ("cf_order_" + 32 hex); the route accepts what Cashfree allows in an order id.
ORDER_ID_RE = r"[A-Za-z0-9_-]{1,64}"


class OrderCreate(BaseSchema):
    amount = fields.Integer(required=True, strict=True,
                            validate=validate.Range(min=MIN_ORDER_PAISE, max=MAX_ORDER_PAISE))
    offer_id = fields.UUID(allow_none=True, load_default=None)


class OrdersQuery(PageQuery):
    pass


class RechargesQuery(PageQuery):
    pass


def order_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "order_id": row["id"],
        "amount": row["amount"],
        "bonus_amount": row["bonus_amount"],
        "total_credit": row["amount"] + row["bonus_amount"],
        "offer_id": row["offer_id"],
        "status": row["status"],
        "failure_reason": row["failure_reason"],
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "settled_at": row["settled_at"],
    }


def created_order_out(row: Mapping[str, Any]) -> dict[str, Any]:
    """201 of POST /payments/cashfree/orders: the reference's four fields first, then the rest."""
    return {"order_id": row["id"], "payment_session_id": row["payment_session_id"], "amount": row["amount"],
            "status": row["status"], **order_out(row), "checkout_url": row.get("checkout_url")}


def verified_order_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**order_out(row), "payment_session_id": row["payment_session_id"], "balance": row["balance"]}


def recharge_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "order_id": row["order_id"] or row["reference_id"],
        "amount": row["amount"],
        "bonus_amount": row["bonus_amount"],
        "total_credit": row["amount"] + row["bonus_amount"],
        "offer_id": row["offer_id"],
        "balance_after": row["bonus_balance_after"] or row["balance_after"],
        "created_at": row["created_at"],
    }


class OrderOut(OutSchema):
    order_id = fields.String()
    amount = fields.Integer(metadata={"description": "Paise"})
    bonus_amount = fields.Integer()
    total_credit = fields.Integer()
    offer_id = fields.UUID(allow_none=True)
    status = one_of(OrderStatus)
    failure_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    settled_at = fields.DateTime(allow_none=True)


class CreatedOrderOut(OrderOut):
    payment_session_id = fields.String(metadata={"description": "For Cashfree's SDK"})
    checkout_url = fields.String(allow_none=True, metadata={"description": "Local payment mode: the local checkout"})


class VerifiedOrderOut(OrderOut):
    payment_session_id = fields.String()
    balance = fields.Integer(metadata={"description": "The wallet balance now (paise)"})


class RechargeOut(OutSchema):
    id = fields.UUID()
    order_id = fields.String(allow_none=True)
    amount = fields.Integer()
    bonus_amount = fields.Integer()
    total_credit = fields.Integer()
    offer_id = fields.UUID(allow_none=True)
    balance_after = fields.Integer()
    created_at = fields.DateTime()
