"""Exactly once under concurrency, and the reconciliation job (frozen clock, several passes at once)."""
from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa

from gateway.payments_jobs import reconcile_once
from storage.tables import payment_orders
from tests import factories
from tests.fake_cashfree import cashfree, cashfree_client  # noqa: F401
from tests.test_payments import ORDERS, WEBHOOK, create_order, ledger, make_offer, order_row, pushes, verify


async def test_twenty_verifies_and_two_webhooks_credit_once(cashfree_client, cashfree, db, auth, caplog):
    client = await cashfree_client(db_pool_size=10)
    user = await factories.make_user(db)
    offer = await make_offer(db, amount=50_000, bonus=7_500)
    order_id = (await create_order(client, auth, user, amount=50_000, offer_id=str(offer["id"])))["order_id"]
    cashfree.pay(order_id)
    raw, headers = cashfree.webhook("PAYMENT_SUCCESS_WEBHOOK", order_id)

    async def verify_once():
        resp = await client.get(f"{ORDERS}/{order_id}/verify", headers=auth("client", user["id"]))
        return resp.status, await resp.json()

    async def webhook_once():
        resp = await client.post(WEBHOOK, data=raw, headers=headers)
        return resp.status, await resp.json()

    with caplog.at_level(logging.INFO, logger="services.payments"):
        results = await asyncio.gather(*[verify_once() for _ in range(20)], webhook_once(), webhook_once())
    # One settlement moved the order; the others found it moved (the ledger's unique reference, the
    # second guard, was never needed: it would have logged an error).
    assert [r.getMessage() for r in caplog.records if r.name == "services.payments"] == []
    assert all(status == 200 for status, _ in results), results
    verified = [body for _, body in results[:20]]
    assert {b["status"] for b in verified} == {"PAID"} and {b["balance"] for b in verified} == {57_500}
    rows = await ledger(db, user["id"])
    assert [(r["kind"], r["amount"], r["balance_after"]) for r in rows] == [("recharge", 50_000, 50_000),
                                                                             ("bonus", 7_500, 57_500)]
    assert [p["event_type"] for p in await pushes(db, user["id"])] == ["payment.success"]
    assert (await order_row(db, order_id))["status"] == "PAID"


async def test_reconciliation_settles_a_pending_order_whose_webhook_never_came(cashfree_client, cashfree, db, auth,
                                                                               frozen_clock):
    client = await cashfree_client(clock=frozen_clock)
    app = client.server.app
    user = await factories.make_user(db)
    paid = (await create_order(client, auth, user, amount=30_000))["order_id"]
    quiet = (await create_order(client, auth, user, amount=20_000))["order_id"]
    expired = (await create_order(client, auth, user, amount=10_000))["order_id"]
    cashfree.pay(paid)  # paid at Cashfree; the webhook is lost and the app never verifies

    frozen_clock.advance(9 * 60)
    assert await reconcile_once(app) == 0
    assert [r for r in cashfree.requests if r["method"] == "GET"] == []  # not due before 10 minutes

    frozen_clock.advance(61)
    assert await reconcile_once(app) == 1
    assert (await order_row(db, paid))["status"] == "PAID"
    assert [(r["kind"], r["amount"]) for r in await ledger(db, user["id"])] == [("recharge", 30_000)]
    assert [p["event_type"] for p in await pushes(db, user["id"])] == ["payment.success"]
    assert (await order_row(db, quiet))["status"] == "PENDING"  # still active at Cashfree: asked again later

    asked = len(cashfree.requests)
    assert await reconcile_once(app) == 0
    assert len(cashfree.requests) == asked  # claimed: not asked again before its next check

    cashfree.set_status(expired, "EXPIRED")
    frozen_clock.advance(5 * 60)
    assert await reconcile_once(app) == 1
    assert (await order_row(db, expired))["status"] == "FAILED"
    assert (await order_row(db, quiet))["status"] == "PENDING"

    # Long past the order's expiry, an order Cashfree still calls active has failed.
    frozen_clock.advance(60 * 60)
    assert await reconcile_once(app) == 1
    row = await order_row(db, quiet)
    assert (row["status"], row["failure_reason"]) == ("FAILED", "EXPIRED")
    assert sorted(p["event_type"] for p in await pushes(db, user["id"])) == [
        "payment.failed", "payment.failed", "payment.success"]
    assert len(await ledger(db, user["id"])) == 1


async def test_concurrent_reconciliation_passes_ask_about_each_order_once(cashfree_client, cashfree, db, auth,
                                                                          frozen_clock):
    client = await cashfree_client(clock=frozen_clock, db_pool_size=10)
    other = await cashfree_client(clock=frozen_clock, db_pool_size=10)  # a second server process's app
    user = await factories.make_user(db)
    order_ids = [(await create_order(client, auth, user, amount=1_000 + i))["order_id"] for i in range(12)]
    for order_id in order_ids:
        cashfree.pay(order_id)
    frozen_clock.advance(11 * 60)
    settled = await asyncio.gather(*[reconcile_once(app) for app in (client.server.app, other.server.app) * 2])
    assert sum(settled) == 12
    asked = [r["path"] for r in cashfree.requests if r["method"] == "GET" and not r["path"].endswith("/payments")]
    assert sorted(asked) == sorted(f"/pg/orders/{o}" for o in order_ids)
    assert len(await ledger(db, user["id"])) == 12


async def test_reconciliation_with_cashfree_down_changes_nothing(cashfree_client, cashfree, db, auth, frozen_clock):
    client = await cashfree_client(clock=frozen_clock)
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    cashfree.pay(order_id)
    cashfree.fail_status = 502
    frozen_clock.advance(11 * 60)
    assert await reconcile_once(client.server.app) == 0
    assert (await order_row(db, order_id))["status"] == "PENDING"
    cashfree.fail_status = None
    frozen_clock.advance(5 * 60)  # the claim's next check
    assert await reconcile_once(client.server.app) == 1
    assert (await order_row(db, order_id))["status"] == "PAID"


async def test_a_settled_order_is_never_claimed(cashfree_client, cashfree, db, auth, frozen_clock):
    client = await cashfree_client(clock=frozen_clock)
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    cashfree.pay(order_id)
    await verify(client, auth, user, order_id)
    asked = len(cashfree.requests)
    frozen_clock.advance(3600)
    assert await reconcile_once(client.server.app) == 0
    assert len(cashfree.requests) == asked
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(payment_orders.c.status)) == "PAID"
