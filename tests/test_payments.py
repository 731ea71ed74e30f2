"""Cashfree top-ups against a local server speaking Cashfree's PG API (tests/fake_cashfree.py):
order creation (body and headers on the wire), verify in every state, offers on orders, amount
mismatch, provider failures (503, no order left), ownership, and the two money analytics lists."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from storage.tables import notifications, payment_orders, wallet_offers, wallet_transactions
from tests import factories
from tests.fake_cashfree import API_VERSION, CLIENT_ID, CLIENT_SECRET, cashfree, cashfree_client  # noqa: F401
from tests.servers import free_port

API = "/api/v2"
ORDERS = f"{API}/payments/cashfree/orders"
WEBHOOK = f"{API}/payments/cashfree/webhook"
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))


async def create_order(client, auth, user, amount=50_000, **extra):
    resp = await client.post(ORDERS, json={"amount": amount, **extra}, headers=auth("client", user["id"]))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def verify(client, auth, user, order_id, status=200):
    resp = await client.get(f"{ORDERS}/{order_id}/verify", headers=auth("client", user["id"]))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def ledger(db, user_id):
    async with db.connect() as conn:
        return (await conn.execute(sa.select(wallet_transactions).where(wallet_transactions.c.user_id == user_id)
                                   .order_by(wallet_transactions.c.balance_after))).mappings().all()


async def order_row(db, order_id):
    async with db.connect() as conn:
        return (await conn.execute(sa.select(payment_orders).where(payment_orders.c.id == order_id))).mappings().one()


async def pushes(db, user_id, event_type=None):
    query = sa.select(notifications).where(notifications.c.recipient_id == user_id)
    if event_type:
        query = query.where(notifications.c.event_type == event_type)
    async with db.connect() as conn:
        return (await conn.execute(query.order_by(notifications.c.created_at))).mappings().all()


async def make_offer(db, *, amount=50_000, bonus=5_000, days=(-1, 30), is_active=True, today=None):
    today = today or dt.datetime.now(IST).date()
    values = {"title": "Starter Pack", "amount": amount, "bonus_amount": bonus, "is_active": is_active,
              "valid_from": today + dt.timedelta(days=days[0]), "valid_until": today + dt.timedelta(days=days[1])}
    async with db.begin() as conn:
        return dict((await conn.execute(sa.insert(wallet_offers).values(**values).returning(wallet_offers)))
                    .mappings().one())


# --- creating an order -------------------------------------------------------------------------

async def test_create_order_sends_cashfree_the_order(cashfree_client, cashfree, db, auth):
    client = await cashfree_client()
    user = await factories.make_user(db, phone="+918090839108", full_name="Rahul Sharma")
    body = await create_order(client, auth, user, amount=12_345)
    order_id = body["order_id"]
    assert body["amount"] == 12_345 and body["status"] == "PENDING" and body["bonus_amount"] == 0
    assert body["payment_session_id"] == f"session_{order_id}_fake" and body["checkout_url"] is None
    assert order_id.startswith("cf_order_") and len(order_id) <= 45

    [sent] = cashfree.order_requests()
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["x-client-id"] == CLIENT_ID and headers["x-client-secret"] == CLIENT_SECRET
    assert headers["x-api-version"] == API_VERSION == "2023-08-01"
    assert headers["content-type"].startswith("application/json") and headers["x-idempotency-key"] == order_id
    assert b'"order_amount": 123.45' in sent["raw"]  # INR, two decimals, written exactly
    wire = sent["json"]
    assert wire["order_id"] == order_id and wire["order_amount"] == Decimal("123.45")
    assert wire["order_currency"] == "INR"
    assert wire["customer_details"] == {"customer_id": user["id"].hex, "customer_phone": "8090839108",
                                        "customer_name": "Rahul Sharma"}
    assert wire["order_meta"] == {"notify_url": "https://api.allign.test/api/v2/payments/cashfree/webhook"}
    expiry = dt.datetime.fromisoformat(wire["order_expiry_time"])
    assert expiry.utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert dt.timedelta(minutes=29) < expiry - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(minutes=30)

    row = await order_row(db, order_id)
    assert (row["status"], row["provider"], row["amount"], row["user_id"]) == ("PENDING", "cashfree", 12_345, user["id"])
    assert row["provider_order_id"] == cashfree.orders[order_id]["cf_order_id"]


async def test_the_client_hits_the_configured_api_root_under_pg(cashfree_client, cashfree, db, auth):
    """CASHFREE_BASE_URL is the root including /pg: the three calls go to /pg/orders[...]."""
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    await verify(client, auth, user, order_id)
    assert [(r["method"], r["path"]) for r in cashfree.requests] == [
        ("POST", "/pg/orders"), ("GET", f"/pg/orders/{order_id}"), ("GET", f"/pg/orders/{order_id}/payments")]


@pytest.mark.parametrize("body", [
    {}, {"amount": 99}, {"amount": 0}, {"amount": -500}, {"amount": 100.5}, {"amount": "500"}, {"amount": True},
    {"amount": 10_000_001}, {"amount": 500, "offer_id": "not-a-uuid"},
])
async def test_create_order_validation(cashfree_client, cashfree, db, auth, body):
    client = await cashfree_client()
    user = await factories.make_user(db)
    resp = await client.post(ORDERS, json=body, headers=auth("client", user["id"]))
    assert resp.status == 422 and (await resp.json())["code"] == "VALIDATION_ERROR"
    assert cashfree.requests == []


async def test_orders_are_for_patients(cashfree_client, db, auth):
    client = await cashfree_client()
    doctor = await factories.make_doctor(db)
    assert (await client.post(ORDERS, json={"amount": 500})).status == 401
    resp = await client.post(ORDERS, json={"amount": 500}, headers=auth("doctor", doctor["id"]))
    assert resp.status == 403


# --- the provider down: 503 and no order left --------------------------------------------------

@pytest.mark.parametrize("failure", ["500", "502", "503", "429", "401", "hang", "unreachable"])
async def test_provider_down_is_503_and_leaves_no_creditable_order(cashfree_client, cashfree, db, auth, failure):
    overrides = {"cashfree_timeout": 0.5}
    if failure == "hang":
        cashfree.hang = True
    elif failure == "unreachable":
        overrides["cashfree_base_url"] = f"http://127.0.0.1:{free_port()}/pg"
    elif failure == "401":
        overrides["cashfree_client_secret"] = "wrong-secret"
    else:
        cashfree.fail_status = int(failure)
    client = await cashfree_client(**overrides)
    user = await factories.make_user(db)
    resp = await client.post(ORDERS, json={"amount": 50_000}, headers=auth("client", user["id"]))
    assert resp.status == 503
    assert (await resp.json())["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(payment_orders)) == 0
    if failure != "unreachable":
        # Whatever order id reached Cashfree, a (validly signed) success webhook for it credits nothing.
        cashfree.hang, cashfree.fail_status = False, None
        [sent] = cashfree.order_requests()
        cashfree.orders[sent["json"]["order_id"]] = {"order_amount": Decimal("500.00")}
        raw, headers = cashfree.webhook("PAYMENT_SUCCESS_WEBHOOK", sent["json"]["order_id"])
        resp = await (await cashfree_client()).post(WEBHOOK, data=raw, headers=headers)
        assert resp.status == 200 and (await resp.json())["handled"] is False
    assert await ledger(db, user["id"]) == []


async def test_a_gateway_answer_without_a_payment_session_is_503(cashfree_client, cashfree, db, auth):
    client = await cashfree_client()
    user = await factories.make_user(db)
    cashfree.omit_session_id = True
    resp = await client.post(ORDERS, json={"amount": 50_000}, headers=auth("client", user["id"]))
    assert resp.status == 503 and (await resp.json())["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(payment_orders)) == 0


# --- verify ------------------------------------------------------------------------------------

async def test_verify_a_paid_order_credits_once_and_pushes(cashfree_client, cashfree, db, auth):
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user, amount=50_000))["order_id"]

    pending = await verify(client, auth, user, order_id)
    assert pending["status"] == "PENDING" and pending["balance"] == 0 and await ledger(db, user["id"]) == []

    cashfree.pay(order_id)
    paid = await verify(client, auth, user, order_id)
    assert paid["status"] == "PAID" and paid["balance"] == 50_000 and paid["order_id"] == order_id
    assert paid["settled_at"] is not None
    [credit] = await ledger(db, user["id"])
    assert (credit["kind"], credit["amount"], credit["balance_after"]) == ("recharge", 50_000, 50_000)
    assert (credit["reference_type"], credit["reference_id"]) == ("payment_order", order_id)
    [push] = await pushes(db, user["id"])
    assert push["event_type"] == "payment.success" and push["recipient_role"] == "client"
    assert push["data"]["order_id"] == order_id and push["data"]["amount"] == "50000"
    assert "₹500.00" in push["body"]
    row = await order_row(db, order_id)
    assert row["paid_amount"] == 50_000 and row["provider_payment_id"] == str(cashfree.payments[order_id][0]["cf_payment_id"])

    calls = len(cashfree.requests)
    again = await verify(client, auth, user, order_id)
    assert again["status"] == "PAID" and again["balance"] == 50_000
    assert len(cashfree.requests) == calls  # a final order is not asked about again
    assert len(await ledger(db, user["id"])) == 1 and len(await pushes(db, user["id"])) == 1


@pytest.mark.parametrize("script, reason", [
    (lambda fake, oid: fake.set_status(oid, "EXPIRED"), "EXPIRED"),
    (lambda fake, oid: fake.set_status(oid, "TERMINATED"), "TERMINATED"),
    (lambda fake, oid: fake.fail(oid), "FAILED"),
    (lambda fake, oid: fake.fail(oid, "USER_DROPPED"), "USER_DROPPED"),
])
async def test_verify_a_failed_order(cashfree_client, cashfree, db, auth, script, reason):
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    script(cashfree, order_id)
    body = await verify(client, auth, user, order_id)
    assert body["status"] == "FAILED" and body["failure_reason"] == reason and body["balance"] == 0
    [push] = await pushes(db, user["id"])
    assert push["event_type"] == "payment.failed" and push["data"]["order_id"] == order_id
    assert await ledger(db, user["id"]) == []
    await verify(client, auth, user, order_id)  # again: still FAILED, no second push
    assert len(await pushes(db, user["id"])) == 1


async def test_a_retry_that_succeeds_after_a_failed_attempt_is_credited(cashfree_client, cashfree, db, auth):
    """Cashfree lets the customer retry inside the same order: FAILED → PAID, credited once."""
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user, amount=20_000))["order_id"]
    cashfree.fail(order_id)
    assert (await verify(client, auth, user, order_id))["status"] == "FAILED"
    cashfree.pay(order_id)
    body = await verify(client, auth, user, order_id)
    assert body["status"] == "PAID" and body["balance"] == 20_000 and body["failure_reason"] is None
    assert [p["event_type"] for p in await pushes(db, user["id"])] == ["payment.failed", "payment.success"]


async def test_verify_with_an_offer_credits_amount_then_bonus(cashfree_client, cashfree, db, auth):
    client = await cashfree_client()
    user = await factories.make_user(db)
    offer = await make_offer(db, amount=50_000, bonus=5_000)
    created = await create_order(client, auth, user, amount=50_000, offer_id=str(offer["id"]))
    assert created["bonus_amount"] == 5_000 and created["offer_id"] == str(offer["id"])
    assert created["total_credit"] == 55_000
    assert cashfree.order_requests()[0]["json"]["order_amount"] == Decimal("500.00")  # the bonus is ours
    cashfree.pay(created["order_id"])
    body = await verify(client, auth, user, created["order_id"])
    assert body["status"] == "PAID" and body["balance"] == 55_000
    rows = await ledger(db, user["id"])
    assert [(r["kind"], r["amount"], r["balance_after"]) for r in rows] == [("recharge", 50_000, 50_000),
                                                                             ("bonus", 5_000, 55_000)]
    assert {(r["reference_type"], r["reference_id"]) for r in rows} == {("payment_order", created["order_id"])}
    [push] = await pushes(db, user["id"])
    assert push["data"]["bonus_amount"] == "5000" and push["data"]["balance"] == "55000"


@pytest.mark.parametrize("case", ["other_amount", "expired", "not_yet", "inactive", "unknown"])
async def test_offer_rules_on_orders(cashfree_client, cashfree, db, auth, case):
    client = await cashfree_client()
    user = await factories.make_user(db)
    offer = await make_offer(db, amount=50_000, bonus=5_000,
                             days={"expired": (-10, -1), "not_yet": (1, 10)}.get(case, (0, 0)),
                             is_active=case != "inactive")
    offer_id = str(uuid.uuid4()) if case == "unknown" else str(offer["id"])
    amount = 49_900 if case == "other_amount" else 50_000
    resp = await client.post(ORDERS, json={"amount": amount, "offer_id": offer_id}, headers=auth("client", user["id"]))
    assert resp.status == 400 and (await resp.json())["code"] == "OFFER_NOT_APPLICABLE"
    assert cashfree.order_requests() == []


async def test_amount_mismatch_credits_nothing_and_is_logged(cashfree_client, cashfree, db, auth, caplog):
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user, amount=50_000))["order_id"]
    cashfree.pay(order_id, amount=Decimal("400.00"))
    with caplog.at_level(logging.WARNING, logger="services.payments"):
        body = await verify(client, auth, user, order_id)
    assert body["status"] == "AMOUNT_MISMATCH" and body["balance"] == 0
    assert any("AMOUNT_MISMATCH" in r.getMessage() and order_id in r.getMessage() for r in caplog.records)
    assert (await order_row(db, order_id))["paid_amount"] == 40_000
    # A later, correct-looking success webhook does not credit it either: support decides.
    raw, headers = cashfree.webhook("PAYMENT_SUCCESS_WEBHOOK", order_id, amount="500.00")
    assert (await client.post(WEBHOOK, data=raw, headers=headers)).status == 200
    assert (await order_row(db, order_id))["status"] == "AMOUNT_MISMATCH"
    assert await ledger(db, user["id"]) == [] and await pushes(db, user["id"]) == []


async def test_another_patients_order_is_404(cashfree_client, cashfree, db, auth):
    client = await cashfree_client()
    owner, other = await factories.make_user(db), await factories.make_user(db)
    order_id = (await create_order(client, auth, owner))["order_id"]
    cashfree.pay(order_id)
    calls = len(cashfree.requests)
    for order in (order_id, "cf_order_" + uuid.uuid4().hex):
        resp = await client.get(f"{ORDERS}/{order}/verify", headers=auth("client", other["id"]))
        assert resp.status == 404 and (await resp.json())["code"] == "ORDER_NOT_FOUND"
    assert len(cashfree.requests) == calls  # nothing asked, nothing settled
    assert (await order_row(db, order_id))["status"] == "PENDING"
    assert await ledger(db, owner["id"]) == [] and await ledger(db, other["id"]) == []
    doctor = await factories.make_doctor(db)
    assert (await client.get(f"{ORDERS}/{order_id}/verify", headers=auth("doctor", doctor["id"]))).status == 403
    assert (await client.get(f"{ORDERS}/bad%20id/verify", headers=auth("client", owner["id"]))).status == 404


async def test_verify_with_the_provider_down(cashfree_client, cashfree, db, auth):
    client = await cashfree_client()
    user = await factories.make_user(db)
    pending = (await create_order(client, auth, user))["order_id"]
    failed = (await create_order(client, auth, user))["order_id"]
    cashfree.set_status(failed, "EXPIRED")
    assert (await verify(client, auth, user, failed))["status"] == "FAILED"
    cashfree.fail_status = 503
    resp = await client.get(f"{ORDERS}/{pending}/verify", headers=auth("client", user["id"]))
    assert resp.status == 503 and (await resp.json())["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert (await verify(client, auth, user, failed))["status"] == "FAILED"  # known outcome, no 503


# --- analytics ---------------------------------------------------------------------------------

async def test_orders_and_recharges_analytics(cashfree_client, cashfree, db, auth, frozen_clock):
    client = await cashfree_client(clock=frozen_clock)
    user, other = await factories.make_user(db), await factories.make_user(db)
    offer = await make_offer(db, amount=30_000, bonus=3_000, today=frozen_clock.now().astimezone(IST).date())
    ids = []
    for amount, extra in ((10_000, {}), (30_000, {"offer_id": str(offer["id"])}), (20_000, {}), (40_000, {})):
        ids.append((await create_order(client, auth, user, amount=amount, **extra))["order_id"])
        frozen_clock.advance(60)
    cashfree.pay(ids[0])
    cashfree.pay(ids[1])
    cashfree.set_status(ids[2], "EXPIRED")
    for order_id in ids[:3]:
        await verify(client, auth, user, order_id)
        frozen_clock.advance(60)
    await create_order(client, auth, other, amount=99_900)
    headers = auth("client", user["id"])

    body = await (await client.get(f"{API}/analytics/user/orders?limit=3", headers=headers)).json()
    assert (body["total"], body["limit"], body["offset"], body["has_more"]) == (4, 3, 0, True)
    assert [(i["order_id"], i["status"], i["amount"]) for i in body["items"]] == [
        (ids[3], "PENDING", 40_000), (ids[2], "FAILED", 20_000), (ids[1], "PAID", 30_000)]
    assert body["items"][2]["bonus_amount"] == 3_000 and body["items"][2]["offer_id"] == str(offer["id"])
    body = await (await client.get(f"{API}/analytics/user/orders?limit=3&offset=3", headers=headers)).json()
    assert [i["order_id"] for i in body["items"]] == [ids[0]] and body["has_more"] is False

    body = await (await client.get(f"{API}/analytics/user/recharges", headers=headers)).json()
    assert body["total"] == 2 and body["has_more"] is False
    assert [(i["order_id"], i["amount"], i["bonus_amount"], i["total_credit"], i["balance_after"])
            for i in body["items"]] == [(ids[1], 30_000, 3_000, 33_000, 43_000), (ids[0], 10_000, 0, 10_000, 10_000)]
    assert body["items"][0]["offer_id"] == str(offer["id"])
    body = await (await client.get(f"{API}/analytics/user/recharges", headers=auth("client", other["id"]))).json()
    assert body["items"] == [] and body["total"] == 0
    assert (await client.get(f"{API}/analytics/user/orders?limit=0", headers=headers)).status == 422
    doctor = await factories.make_doctor(db)
    assert (await client.get(f"{API}/analytics/user/recharges", headers=auth("doctor", doctor["id"]))).status == 403


async def test_payment_calls_run_concurrently_with_other_requests(cashfree_client, cashfree, db, auth):
    """A hanging Cashfree holds only its own request (no thread pool, no database connection held)."""
    client = await cashfree_client(cashfree_timeout=1.0, db_pool_size=1)
    user = await factories.make_user(db)
    cashfree.hang = True
    slow = asyncio.create_task(client.post(ORDERS, json={"amount": 500}, headers=auth("client", user["id"])))
    while not cashfree.requests:
        await asyncio.sleep(0.01)
    resp = await client.get(f"{API}/wallet", headers=auth("client", user["id"]))
    assert resp.status == 200 and not slow.done()
    assert (await slow).status == 503
