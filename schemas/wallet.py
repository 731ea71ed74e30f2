"""Wallet queries and the admin adjustment body; the ledger row shape out."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from schemas.common import BaseSchema, PageQuery, Str
from schemas.out import OutSchema, one_of

# One crore rupees in paise: far above any real support credit, far below bigint overflow.
MAX_ADJUSTMENT = 10_000_000_00


def _non_zero(value: int) -> None:
    if value == 0:
        raise ValidationError("Amount must not be zero")


class TransactionsQuery(PageQuery):
    pass


class AdjustmentCreate(BaseSchema):
    amount = fields.Integer(required=True, strict=True, validate=[
        _non_zero, validate.Range(min=-MAX_ADJUSTMENT, max=MAX_ADJUSTMENT)])
    reason = Str(required=True, min_len=1, max_len=200)


def transaction_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "amount": row["amount"],
        "kind": row["kind"],
        "balance_after": row["balance_after"],
        "description": row["description"],
        "reference_type": row["reference_type"],
        "reference_id": row["reference_id"],
        "created_at": row["created_at"],
    }


class WalletOut(OutSchema):
    balance = fields.Integer(metadata={"description": "Paise"})
    currency = one_of(("INR",))


class TransactionOut(OutSchema):
    id = fields.UUID()
    amount = fields.Integer(metadata={"description": "Paise: credits > 0, debits < 0"})
    kind = one_of(("recharge", "bonus", "session", "adjustment", "refund"))
    balance_after = fields.Integer()
    description = fields.String(allow_none=True)
    reference_type = fields.String(allow_none=True)
    reference_id = fields.String(allow_none=True)
    created_at = fields.DateTime()


class AdjustmentOut(TransactionOut):
    user_id = fields.UUID()
