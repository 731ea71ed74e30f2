"""Wallet offers (admin-managed recharge packs): rows in SQL text on the driver. Amounts in paise."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage import driver
from storage.pool import Connection

Row = dict[str, Any]
_FIELDS = ("id, title, description, amount, bonus_amount, valid_from, valid_until, is_active, "
           "created_at, updated_at")

_INSERT = f"""INSERT INTO wallet_offers (title, description, amount, bonus_amount, valid_from, valid_until,
                                         is_active, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {_FIELDS}"""
_GET = f"SELECT {_FIELDS} FROM wallet_offers WHERE id = $1"
_LOCK = f"SELECT {_FIELDS} FROM wallet_offers WHERE id = $1 FOR UPDATE"
# Public list: active offers whose IST validity covers $1 (the partial index ix_wallet_offers_valid).
_AVAILABLE = (f"SELECT {_FIELDS} FROM wallet_offers WHERE is_active AND valid_from <= $1 AND valid_until >= $1 "
              "ORDER BY amount, id LIMIT $2")
_ADMIN_WHERE = "($1::boolean IS NULL OR is_active = $1)"
_ADMIN_COUNT = f"SELECT count(*) FROM wallet_offers WHERE {_ADMIN_WHERE}"
_ADMIN_PAGE = (f"SELECT {_FIELDS} FROM wallet_offers WHERE {_ADMIN_WHERE} "
               "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3")
# Partial update: every column but description is NOT NULL (coalesce keeps it); description is set,
# null included, when $3. The validity check (ck_wallet_offers_validity) judges the merged row.
_UPDATE = f"""UPDATE wallet_offers SET title = coalesce($2, title),
    description = CASE WHEN $3 THEN $4 ELSE description END,
    amount = coalesce($5, amount), bonus_amount = coalesce($6, bonus_amount),
    valid_from = coalesce($7, valid_from), valid_until = coalesce($8, valid_until),
    is_active = coalesce($9, is_active), updated_at = $10
WHERE id = $1 RETURNING {_FIELDS}"""
_USED = "SELECT EXISTS (SELECT 1 FROM payment_orders WHERE offer_id = $1)"
_DELETE = "DELETE FROM wallet_offers WHERE id = $1"
_DEACTIVATE = "UPDATE wallet_offers SET is_active = false, updated_at = $2 WHERE id = $1"
# Demo packs (local mode), written only into an empty table.
_INSERT_DEMO = """INSERT INTO wallet_offers (title, description, amount, bonus_amount, valid_from, valid_until)
SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM wallet_offers WHERE title = $1)"""


async def create_offer(conn: Connection, values: Row, at: dt.datetime) -> Row:
    row = await driver.fetchrow(conn, _INSERT, values["title"], values.get("description"), values["amount"],
                                values.get("bonus_amount", 0), values["valid_from"], values["valid_until"],
                                values.get("is_active", True), at, begin=True)
    assert row is not None
    return dict(row)


async def get_offer(conn: Connection, offer_id: uuid.UUID) -> Row | None:
    row = await driver.fetchrow(conn, _GET, offer_id)
    return dict(row) if row else None


async def lock_offer(conn: Connection, offer_id: uuid.UUID) -> Row | None:
    """The offer, its row locked for this transaction (orders referencing it wait, and vice versa)."""
    row = await driver.fetchrow(conn, _LOCK, offer_id, begin=True)
    return dict(row) if row else None


async def available_offers(conn: Connection, today: dt.date, limit: int = 100) -> list[Row]:
    return [dict(r) for r in await driver.fetch(conn, _AVAILABLE, today, limit)]


async def offers_page(conn: Connection, *, limit: int, offset: int,
                      is_active: bool | None = None) -> tuple[list[Row], int]:
    """Newest first."""
    total = await driver.fetchval(conn, _ADMIN_COUNT, is_active)
    rows = await driver.fetch(conn, _ADMIN_PAGE, is_active, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


async def update_offer(conn: Connection, offer_id: uuid.UUID, changes: Row, at: dt.datetime) -> Row | None:
    row = await driver.fetchrow(conn, _UPDATE, offer_id, changes.get("title"), "description" in changes,
                                changes.get("description"), changes.get("amount"), changes.get("bonus_amount"),
                                changes.get("valid_from"), changes.get("valid_until"), changes.get("is_active"),
                                at, begin=True)
    return dict(row) if row else None


async def is_used(conn: Connection, offer_id: uuid.UUID) -> bool:
    return bool(await driver.fetchval(conn, _USED, offer_id, begin=True))


async def delete_offer(conn: Connection, offer_id: uuid.UUID) -> None:
    await driver.execute(conn, _DELETE, offer_id, begin=True)


async def deactivate_offer(conn: Connection, offer_id: uuid.UUID, at: dt.datetime) -> None:
    await driver.execute(conn, _DEACTIVATE, offer_id, at, begin=True)


async def insert_demo_offer(conn: Connection, title: str, description: str, amount: int, bonus_amount: int,
                            valid_from: dt.date, valid_until: dt.date) -> None:
    await driver.execute(conn, _INSERT_DEMO, title, description, amount, bonus_amount, valid_from, valid_until,
                         begin=True)
