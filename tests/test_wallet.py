"""GET /wallet, GET /wallet/transactions and admin adjustments through the one ledger write path."""
from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from storage import wallet
from storage.tables import wallet_transactions, wallets
from tests import factories

API = "/api/v2"


async def _adjust(client, auth, admin, user_id, **body):
    return await client.post(f"{API}/admin/users/{user_id}/wallet/adjustments", json=body,
                             headers=auth("admin", admin["id"]))


async def test_wallet_without_a_row_is_zero(client, db, auth):
    user = await factories.make_user(db)
    resp = await client.get(f"{API}/wallet", headers=auth("client", user["id"]))
    assert resp.status == 200 and await resp.json() == {"balance": 0, "currency": "INR"}
    body = await (await client.get(f"{API}/wallet/transactions", headers=auth("client", user["id"]))).json()
    assert body == {"items": [], "total": 0, "limit": 20, "offset": 0, "has_more": False}


async def test_wallet_is_for_clients(client, db, auth):
    doctor = await factories.make_doctor(db)
    assert (await client.get(f"{API}/wallet")).status == 401
    assert (await client.get(f"{API}/wallet", headers=auth("doctor", doctor["id"]))).status == 403
    assert (await client.get(f"{API}/wallet/transactions", headers=auth("doctor", doctor["id"]))).status == 403


async def test_adjustments_credit_and_debit(client, db, auth):
    user, admin = await factories.make_user(db), await factories.make_admin(db)
    resp = await _adjust(client, auth, admin, user["id"], amount=50_000, reason="  Goodwill credit  ")
    assert resp.status == 201
    credit = await resp.json()
    assert credit["amount"] == 50_000 and credit["balance_after"] == 50_000 and credit["kind"] == "adjustment"
    assert credit["description"] == "Goodwill credit" and credit["user_id"] == str(user["id"])
    assert set(credit) >= {"id", "amount", "kind", "balance_after", "description", "reference_type",
                           "reference_id", "created_at"}
    resp = await _adjust(client, auth, admin, user["id"], amount=-20_000, reason="Refund reversal")
    assert resp.status == 201 and (await resp.json())["balance_after"] == 30_000
    resp = await client.get(f"{API}/wallet", headers=auth("client", user["id"]))
    assert (await resp.json())["balance"] == 30_000
    async with db.connect() as conn:
        rows = (await conn.execute(sa.select(wallet_transactions))).mappings().all()
    assert {r["created_by"] for r in rows} == {admin["id"]}


async def test_a_debit_never_goes_below_zero(client, db, auth):
    user, admin = await factories.make_user(db), await factories.make_admin(db)
    await factories.make_wallet(db, user["id"], 1_000)
    resp = await _adjust(client, auth, admin, user["id"], amount=-1_001, reason="too much")
    assert resp.status == 400 and (await resp.json())["code"] == "INSUFFICIENT_BALANCE"
    resp = await _adjust(client, auth, admin, user["id"], amount=-1_000, reason="exactly all")
    assert resp.status == 201 and (await resp.json())["balance_after"] == 0
    resp = await _adjust(client, auth, admin, (await factories.make_user(db))["id"], amount=-1, reason="empty")
    assert resp.status == 400  # no wallet yet is a zero balance


async def test_concurrent_debits_cannot_overdraw(client, db, auth):
    user, admin = await factories.make_user(db), await factories.make_admin(db)
    await factories.make_wallet(db, user["id"], 5_000)
    responses = await asyncio.gather(*[
        _adjust(client, auth, admin, user["id"], amount=-1_000, reason=f"debit {i}") for i in range(8)])
    assert sorted(r.status for r in responses) == [201] * 5 + [400] * 3
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(wallets.c.balance)) == 0
        afters = sorted((await conn.execute(sa.select(wallet_transactions.c.balance_after))).scalars())
    assert afters == [0, 1_000, 2_000, 3_000, 4_000]


@pytest.mark.parametrize("body, loc", [
    ({"reason": "x"}, ["body", "amount"]),
    ({"amount": 0, "reason": "x"}, ["body", "amount"]),
    ({"amount": 1.5, "reason": "x"}, ["body", "amount"]),
    ({"amount": "100", "reason": "x"}, ["body", "amount"]),
    ({"amount": 10**12, "reason": "x"}, ["body", "amount"]),
    ({"amount": 100}, ["body", "reason"]),
    ({"amount": 100, "reason": "   "}, ["body", "reason"]),
    ({"amount": 100, "reason": "x" * 201}, ["body", "reason"]),
])
async def test_adjustment_validation(client, db, auth, body, loc):
    user, admin = await factories.make_user(db), await factories.make_admin(db)
    resp = await _adjust(client, auth, admin, user["id"], **body)
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == loc


async def test_adjustment_needs_an_admin_and_a_real_user(client, db, auth):
    user, admin = await factories.make_user(db), await factories.make_admin(db)
    resp = await _adjust(client, auth, admin, uuid.uuid4(), amount=100, reason="x")
    assert resp.status == 404 and (await resp.json())["code"] == "USER_NOT_FOUND"
    resp = await client.post(f"{API}/admin/users/{user['id']}/wallet/adjustments", json={"amount": 100, "reason": "x"},
                             headers=auth("client", user["id"]))
    assert resp.status == 403
    resp = await client.post(f"{API}/admin/users/nope/wallet/adjustments", json={"amount": 100, "reason": "x"},
                             headers=auth("admin", admin["id"]))
    assert resp.status == 404


async def test_transactions_page_newest_first(make_client, frozen_clock, db, auth):
    client = await make_client(clock=frozen_clock)
    user, admin = await factories.make_user(db), await factories.make_admin(db)
    for amount in (100, 200, 300, 400, 500):
        assert (await _adjust(client, auth, admin, user["id"], amount=amount, reason=f"credit {amount}")).status == 201
        frozen_clock.advance(1)
    headers = auth("client", user["id"])
    body = await (await client.get(f"{API}/wallet/transactions?limit=2", headers=headers)).json()
    assert [i["amount"] for i in body["items"]] == [500, 400]
    assert (body["total"], body["limit"], body["offset"], body["has_more"]) == (5, 2, 0, True)
    body = await (await client.get(f"{API}/wallet/transactions?limit=2&offset=4", headers=headers)).json()
    assert [i["amount"] for i in body["items"]] == [100] and body["has_more"] is False
    assert body["items"][0]["balance_after"] == 100
    other = await factories.make_user(db)
    body = await (await client.get(f"{API}/wallet/transactions", headers=auth("client", other["id"]))).json()
    assert body["total"] == 0  # only one's own ledger
    assert (await client.get(f"{API}/wallet/transactions?limit=0", headers=headers)).status == 422
    assert (await client.get(f"{API}/wallet/transactions?offset=-1", headers=headers)).status == 422


async def test_a_referenced_change_applies_once(db):
    """The exactly-once guard payments rely on: the same (kind, reference) twice changes nothing."""
    user = await factories.make_user(db)
    async with factories.app_connection(db) as conn:
        first = await wallet.apply_change(conn, user["id"], 10_000, "recharge",
                                          reference_type="cashfree_order", reference_id="order-1")
    async with factories.app_connection(db) as conn:
        again = await wallet.apply_change(conn, user["id"], 10_000, "recharge",
                                          reference_type="cashfree_order", reference_id="order-1")
    assert first["balance_after"] == 10_000 and again is None
    async with factories.app_connection(db) as conn:
        assert await wallet.balance_of(conn, user["id"]) == 10_000
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(wallet_transactions)) == 1
