"""Wallet offers: the public list of offers valid today (IST), and the admin's CRUD, each admin
write recorded in the audit log in its own transaction (services.audit.audited).

Deleting an offer that an order already used deactivates it instead (the order keeps pointing at
it). The offer row is locked first, so an order being created with it either commits before the
check (and the offer is deactivated) or waits and then finds the offer gone (400).
"""
from __future__ import annotations

import uuid
from typing import Any

from domain import money
from domain.errors import NotFound
from services.audit import Actor, audited
from services.context import Context, reading
from storage import wallet_offers as store

Row = dict[str, Any]
TARGET = "wallet_offer"


def not_found() -> NotFound:
    return NotFound("Wallet offer not found", code="WALLET_OFFER_NOT_FOUND")


async def available_today(ctx: Context) -> list[Row]:
    """Active offers valid on today's IST calendar day, cheapest first."""
    async with reading(ctx) as conn:
        return await store.available_offers(conn, money.ist_today(ctx.now()))


async def create(ctx: Context, actor: Actor, values: Row) -> Row:
    money.check_validity(values["valid_from"], values["valid_until"])
    async with audited(ctx, actor, "wallet_offer.create", TARGET, changed_fields=sorted(values)) as (conn, entry):
        row = await store.create_offer(conn, values, ctx.now())
        entry.target_id = str(row["id"])
    return row


async def get(ctx: Context, offer_id: uuid.UUID) -> Row:
    async with reading(ctx) as conn:
        row = await store.get_offer(conn, offer_id)
    if row is None:
        raise not_found()
    return row


async def page(ctx: Context, *, limit: int, offset: int, is_active: bool | None) -> tuple[list[Row], int]:
    async with reading(ctx) as conn:
        return await store.offers_page(conn, limit=limit, offset=offset, is_active=is_active)


async def update(ctx: Context, actor: Actor, offer_id: uuid.UUID, changes: Row) -> Row:
    """Partial update; the merged validity must still run forward (422)."""
    async with audited(ctx, actor, "wallet_offer.update", TARGET, offer_id, sorted(changes)) as (conn, _):
        current = await store.lock_offer(conn, offer_id)
        if current is None:
            raise not_found()
        merged = {**current, **changes}
        money.check_validity(merged["valid_from"], merged["valid_until"])
        row = await store.update_offer(conn, offer_id, changes, ctx.now()) if changes else current
    assert row is not None  # locked above: still there
    return row


async def delete(ctx: Context, actor: Actor, offer_id: uuid.UUID) -> bool:
    """Remove the offer, or deactivate it if an order used it. True if removed."""
    async with audited(ctx, actor, "wallet_offer.delete", TARGET, offer_id) as (conn, entry):
        if await store.lock_offer(conn, offer_id) is None:
            raise not_found()
        if await store.is_used(conn, offer_id):
            await store.deactivate_offer(conn, offer_id, ctx.now())
            entry.changed_fields = ["is_active"]
            return False
        await store.delete_offer(conn, offer_id)
        return True
