"""Payment orders (wallet top-ups): rows in SQL text on the driver. Amounts in paise.

Every state change is one conditional UPDATE (`move`): the order changes only from the states
domain.money.TRANSITIONS allows, so of any number of concurrent settlements exactly one gets the
row back. The credit is the wallet ledger's (storage.wallet.apply_change), in the same transaction.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

from storage import driver
from storage.pool import Connection

Row = dict[str, Any]
ORDER_FIELDS = ("id, user_id, provider, amount, bonus_amount, offer_id, status, payment_session_id, "
                "provider_order_id, provider_payment_id, paid_amount, failure_reason, expires_at, "
                "settled_at, created_at, updated_at")

_INSERT = f"""INSERT INTO payment_orders (id, user_id, provider, amount, bonus_amount, offer_id, payment_session_id,
                                          provider_order_id, expires_at, next_check_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING {ORDER_FIELDS}"""
_GET = f"SELECT {ORDER_FIELDS} FROM payment_orders WHERE id = $1"
_GET_OWN = f"SELECT {ORDER_FIELDS} FROM payment_orders WHERE id = $1 AND user_id = $2"
# $3: the states the order may move from; a row comes back only if it was in one of them.
_MOVE = f"""UPDATE payment_orders SET status = $2, paid_amount = coalesce($4, paid_amount),
    provider_payment_id = coalesce($5, provider_payment_id), failure_reason = $6,
    settled_at = $7, updated_at = $7
WHERE id = $1 AND status = ANY($3::text[]) RETURNING {ORDER_FIELDS}"""
# The reconciliation claim: due PENDING orders, skipping rows another process is claiming, moved to
# their next check time so no other process takes them meanwhile.
_CLAIM_DUE = f"""UPDATE payment_orders SET next_check_at = $2
WHERE id IN (SELECT id FROM payment_orders WHERE status = 'PENDING' AND next_check_at <= $1
             ORDER BY next_check_at LIMIT $3 FOR UPDATE SKIP LOCKED)
RETURNING {ORDER_FIELDS}"""
_COUNT_OWN = "SELECT count(*) FROM payment_orders WHERE user_id = $1"
_PAGE_OWN = (f"SELECT {ORDER_FIELDS} FROM payment_orders WHERE user_id = $1 "
             "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3")
# Recharges: the user's recharge credits, each with the bonus credited under the same order.
_COUNT_RECHARGES = "SELECT count(*) FROM wallet_transactions WHERE user_id = $1 AND kind = 'recharge'"
_PAGE_RECHARGES = """SELECT t.id, t.amount, t.balance_after, t.reference_type, t.reference_id, t.description,
       t.created_at, coalesce(b.amount, 0) AS bonus_amount, b.balance_after AS bonus_balance_after,
       o.offer_id, o.id AS order_id
FROM wallet_transactions t
LEFT JOIN wallet_transactions b ON b.kind = 'bonus' AND b.user_id = t.user_id
     AND b.reference_type = t.reference_type AND b.reference_id = t.reference_id
LEFT JOIN payment_orders o ON t.reference_type = 'payment_order' AND o.id = t.reference_id
WHERE t.user_id = $1 AND t.kind = 'recharge'
ORDER BY t.created_at DESC, t.id DESC LIMIT $2 OFFSET $3"""


async def insert_order(conn: Connection, *, order_id: str, user_id: uuid.UUID, provider: str, amount: int,
                       bonus_amount: int, offer_id: uuid.UUID | None, payment_session_id: str,
                       provider_order_id: str | None, expires_at: dt.datetime, next_check_at: dt.datetime,
                       at: dt.datetime) -> Row:
    row = await driver.fetchrow(conn, _INSERT, order_id, user_id, provider, amount, bonus_amount, offer_id,
                                payment_session_id, provider_order_id, expires_at, next_check_at, at, begin=True)
    assert row is not None
    return dict(row)


async def get_order(conn: Connection, order_id: str) -> Row | None:
    row = await driver.fetchrow(conn, _GET, order_id)
    return dict(row) if row else None


async def get_own_order(conn: Connection, order_id: str, user_id: uuid.UUID) -> Row | None:
    """The order if it is this user's (someone else's is None, like a missing one)."""
    row = await driver.fetchrow(conn, _GET_OWN, order_id, user_id)
    return dict(row) if row else None


async def move(conn: Connection, order_id: str, to: str, from_states: Sequence[str], *, at: dt.datetime,
               paid_amount: int | None = None, payment_id: str | None = None,
               reason: str | None = None) -> Row | None:
    """Move the order to `to` if it is in one of `from_states`; the updated row, or None if it was not."""
    row = await driver.fetchrow(conn, _MOVE, order_id, to, list(from_states), paid_amount, payment_id, reason, at,
                                begin=True)
    return dict(row) if row else None


async def claim_due(conn: Connection, now: dt.datetime, next_check_at: dt.datetime, limit: int) -> list[Row]:
    """PENDING orders due for a check at `now`, claimed until `next_check_at` (one statement: commits alone)."""
    return [dict(r) for r in await driver.fetch(conn, _CLAIM_DUE, now, next_check_at, limit)]


async def orders_page(conn: Connection, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[Row], int]:
    """The user's orders, newest first."""
    total = await driver.fetchval(conn, _COUNT_OWN, user_id)
    rows = await driver.fetch(conn, _PAGE_OWN, user_id, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


async def recharges_page(conn: Connection, user_id: uuid.UUID, limit: int,
                         offset: int) -> tuple[list[Row], int]:
    """The user's recharge credits with their bonus, newest first."""
    total = await driver.fetchval(conn, _COUNT_RECHARGES, user_id)
    rows = await driver.fetch(conn, _PAGE_RECHARGES, user_id, limit, offset)
    return [dict(r) for r in rows], int(total or 0)
