"""Wallet use cases: the admin's adjustment (support credits and refunds), through the one ledger
write path (storage.wallet.apply_change, which never lets a balance go below zero)."""
from __future__ import annotations

import uuid
from typing import Any

from domain.errors import NotFound
from services.context import Context, transaction
from storage import users, wallet

ADJUSTMENT = "adjustment"


async def adjust(ctx: Context, admin_id: uuid.UUID, user_id: uuid.UUID, amount: int, reason: str) -> dict[str, Any]:
    """Credit (amount > 0) or debit the patient's wallet; the ledger row, with user_id."""
    async with transaction(ctx) as conn:
        if not await users.user_exists(conn, user_id):
            raise NotFound("User not found", code="USER_NOT_FOUND")
        row = await wallet.apply_change(conn, user_id, amount, ADJUSTMENT, description=reason,
                                        created_by=admin_id, at=ctx.now())
    assert row is not None  # no reference: never a repeat
    return row
