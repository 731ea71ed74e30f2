"""The wallet ledger: balances and their transactions.

`apply_change` is the one write path for every credit and debit (session billing, admin
adjustments, payments): it locks the wallet row, never lets it go below zero and applies a change
with a reference at most once.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import billing
from storage.tables import wallet_transactions, wallets

TRANSACTION_COLUMNS = [
    wallet_transactions.c.id, wallet_transactions.c.amount, wallet_transactions.c.kind,
    wallet_transactions.c.balance_after, wallet_transactions.c.description,
    wallet_transactions.c.reference_type, wallet_transactions.c.reference_id,
    wallet_transactions.c.created_at,
]


async def balance_of(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """The current balance without a lock (0 when the user has no wallet yet)."""
    value = await conn.scalar(sa.select(wallets.c.balance).where(wallets.c.user_id == user_id))
    return int(value or 0)


async def lock_balance(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """Create the wallet at 0 if missing, lock its row for this transaction, return the balance."""
    await conn.execute(pg_insert(wallets).values(user_id=user_id, balance=0)
                       .on_conflict_do_nothing(index_elements=[wallets.c.user_id]))
    value = await conn.scalar(sa.select(wallets.c.balance).where(wallets.c.user_id == user_id)
                              .with_for_update())
    return int(value)


async def apply_change(conn: AsyncConnection, user_id: uuid.UUID, amount: int, kind: str, *,
                       description: str | None = None, reference_type: str | None = None,
                       reference_id: str | None = None, created_by: uuid.UUID | None = None,
                       at: dt.datetime | None = None) -> dict[str, Any] | None:
    """Credit (amount > 0) or debit (amount < 0) the user's wallet in the caller's transaction.

    Raises BadRequest INSUFFICIENT_BALANCE if a debit would take the balance below zero.
    Returns the ledger row, or None if this (kind, reference_type, reference_id) was already
    applied (then nothing changes: exactly-once for sessions and payments).
    """
    balance = await lock_balance(conn, user_id)
    new_balance = billing.balance_after(balance, amount)
    values: dict[str, Any] = dict(
        user_id=user_id, amount=amount, kind=kind, balance_after=new_balance, description=description,
        reference_type=reference_type, reference_id=reference_id, created_by=created_by,
    )
    if at is not None:
        values["created_at"] = at
    row = (await conn.execute(
        pg_insert(wallet_transactions).values(**values)
        .on_conflict_do_nothing(
            index_elements=["kind", "reference_type", "reference_id"],
            index_where=sa.text("reference_id IS NOT NULL"))
        .returning(*TRANSACTION_COLUMNS, wallet_transactions.c.user_id)
    )).mappings().first()
    if row is None:
        return None
    await conn.execute(sa.update(wallets).where(wallets.c.user_id == user_id)
                       .values(balance=new_balance, updated_at=at or sa.func.now()))
    return dict(row)


async def transactions_page(conn: AsyncConnection, user_id: uuid.UUID, limit: int,
                            offset: int) -> tuple[list[dict[str, Any]], int]:
    """The user's ledger, newest first."""
    t = wallet_transactions
    total = await conn.scalar(sa.select(sa.func.count()).select_from(t).where(t.c.user_id == user_id))
    rows = (await conn.execute(
        sa.select(*TRANSACTION_COLUMNS).where(t.c.user_id == user_id)
        .order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit).offset(offset)
    )).mappings().all()
    return [dict(r) for r in rows], int(total or 0)
