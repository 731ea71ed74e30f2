"""The wallet ledger rows: balances and their transactions (SQL text on the driver).

`apply_change` is the one write path for every credit and debit (session billing, admin
adjustments, payments): it locks the wallet row, never lets it go below zero and applies a change
with a reference at most once.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from domain import billing
from storage import driver

TRANSACTION_FIELDS = "id, amount, kind, balance_after, description, reference_type, reference_id, created_at"

_BALANCE = "SELECT balance FROM wallets WHERE user_id = $1"
_ENSURE = "INSERT INTO wallets (user_id, balance) VALUES ($1, 0) ON CONFLICT (user_id) DO NOTHING"
_LOCK = "SELECT balance FROM wallets WHERE user_id = $1 FOR UPDATE"
# A reference is applied at most once: the partial unique index on (kind, reference_type,
# reference_id) turns a repeat into no row.
_INSERT_TRANSACTION = f"""
INSERT INTO wallet_transactions (user_id, amount, kind, balance_after, description, reference_type,
                                 reference_id, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()))
ON CONFLICT (kind, reference_type, reference_id) WHERE reference_id IS NOT NULL DO NOTHING
RETURNING {TRANSACTION_FIELDS}, user_id"""
_SET_BALANCE = "UPDATE wallets SET balance = $2, updated_at = coalesce($3, now()) WHERE user_id = $1"
_COUNT = "SELECT count(*) FROM wallet_transactions WHERE user_id = $1"
_PAGE = (f"SELECT {TRANSACTION_FIELDS} FROM wallet_transactions WHERE user_id = $1 "
         "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3")


async def balance_of(conn: Connection, user_id: uuid.UUID) -> int:
    """The current balance without a lock (0 when the user has no wallet yet)."""
    return int(await driver.fetchval(conn, _BALANCE, user_id) or 0)


async def lock_balance(conn: Connection, user_id: uuid.UUID) -> int:
    """Create the wallet at 0 if missing, lock its row for this transaction, return the balance."""
    await driver.execute(conn, _ENSURE, user_id, begin=True)
    return int(await driver.fetchval(conn, _LOCK, user_id, begin=True))


async def apply_change(conn: Connection, user_id: uuid.UUID, amount: int, kind: str, *,
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
    row = await driver.fetchrow(conn, _INSERT_TRANSACTION, user_id, amount, kind, new_balance, description,
                                reference_type, reference_id, created_by, at, begin=True)
    if row is None:
        return None
    await driver.execute(conn, _SET_BALANCE, user_id, new_balance, at, begin=True)
    return dict(row)


async def transactions_page(conn: Connection, user_id: uuid.UUID, limit: int,
                            offset: int) -> tuple[list[dict[str, Any]], int]:
    """The user's ledger, newest first."""
    total = await driver.fetchval(conn, _COUNT, user_id)
    rows = await driver.fetch(conn, _PAGE, user_id, limit, offset)
    return [dict(r) for r in rows], int(total or 0)
