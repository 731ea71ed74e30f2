"""Wallet use cases: the admin's adjustment (support credits and refunds), through the one ledger
write path (storage.wallet.apply_change, which never lets a balance go below zero)."""
from __future__ import annotations

import uuid
from typing import Any

from domain.errors import NotFound
from services.audit import Actor, audited
from services.context import Context
from storage import users, wallet

ADJUSTMENT = "adjustment"


async def adjust(ctx: Context, actor: Actor, user_id: uuid.UUID, amount: int, reason: str) -> dict[str, Any]:
    """Credit (amount > 0) or debit the patient's wallet; the ledger row, with user_id. Audited
    against the patient (the names of what the admin set, not the amount)."""
    async with audited(ctx, actor, "wallet.adjustment.create", "user", user_id,
                       changed_fields=["amount", "reason"]) as (conn, _):
        if not await users.user_exists(conn, user_id):
            raise NotFound("User not found", code="USER_NOT_FOUND")
        row = await wallet.apply_change(conn, user_id, amount, ADJUSTMENT, description=reason,
                                        created_by=actor.id, at=ctx.now())
    assert row is not None  # no reference: never a repeat
    return row
