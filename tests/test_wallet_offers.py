"""Wallet offers: the public list of today's offers (IST), the admin's CRUD with INR decimals in and
paise stored, and the audit rows of the admin's writes."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from common.clock import FrozenClock
from storage.tables import audit_log, wallet_offers
from tests import factories
from tests.test_payments import create_order

API = "/api/v2"
ADMIN = f"{API}/admin/wallet-offers"
# 00:15 on 2 March in India, still 1 March in UTC.
IST_MIDNIGHT_PAST = dt.datetime(2026, 3, 1, 18, 45, tzinfo=dt.timezone.utc)


def offer_body(**values):
    return {"title": "Starter Pack", "amount": 500, "bonus_amount": 50, "valid_from": "2026-03-01",
            "valid_until": "2026-03-31", **values}


async def post_raw(client, auth, admin, raw: str):
    return await client.post(ADMIN, data=raw, headers={**auth("admin", admin["id"]), "Content-Type": "application/json"})


async def audit_rows(db):
    async with db.connect() as conn:
        return (await conn.execute(sa.select(audit_log).order_by(audit_log.c.id))).mappings().all()


async def test_create_takes_inr_decimals_and_stores_paise(client, db, auth):
    admin = await factories.make_admin(db)
    raw = ('{"title": "  Starter Pack ", "amount": 99999.99, "bonus_amount": 0.07, '
           '"valid_from": "2026-02-01", "valid_until": "2026-03-01", "description": "Pay more, get more"}')
    resp = await post_raw(client, auth, admin, raw)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert (body["title"], body["amount"], body["bonus_amount"], body["total_credit"]) == (
        "Starter Pack", 9_999_999, 7, 10_000_006)
    assert (body["amount_inr"], body["bonus_amount_inr"]) == ("99999.99", "0.07")
    assert (body["valid_from"], body["valid_until"], body["is_active"]) == ("2026-02-01", "2026-03-01", True)
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(wallet_offers))).mappings().one()
    assert (row["amount"], row["bonus_amount"]) == (9_999_999, 7)
    [audit] = await audit_rows(db)
    assert (audit["actor_id"], audit["action"], audit["target_type"], audit["target_id"]) == (
        admin["id"], "wallet_offer.create", "wallet_offer", body["id"])
    assert "amount" in audit["changed_fields"] and "99999.99" not in str(audit["changed_fields"])


async def test_bonus_defaults_to_zero_and_the_reference_sample_works(client, db, auth):
    admin = await factories.make_admin(db)
    resp = await post_raw(client, auth, admin, '{"title": "Starter Pack", "amount": 500.00, "bonus_amount": 50.00,'
                                               ' "valid_from": "2026-02-01", "valid_until": "2026-03-01"}')
    assert resp.status == 201 and (await resp.json())["bonus_amount"] == 5_000
    body = offer_body()
    del body["bonus_amount"]
    resp = await client.post(ADMIN, json=body, headers=auth("admin", admin["id"]))
    assert resp.status == 201 and (await resp.json())["bonus_amount"] == 0


@pytest.mark.parametrize("raw, field", [
    (json.dumps(offer_body(amount=0)), "amount"),
    (json.dumps(offer_body(amount=-5)), "amount"),
    (json.dumps(offer_body(amount="500")), "amount"),
    (json.dumps(offer_body(amount=True)), "amount"),
    (json.dumps(offer_body(amount=100_000.01)), "amount"),
    (json.dumps(offer_body(bonus_amount=-0.01)), "bonus_amount"),
    (json.dumps(offer_body(title="  ")), "title"),
    (json.dumps(offer_body(valid_from="2026-04-01")), "valid_until"),
    (json.dumps(offer_body(valid_until="31/03/2026")), "valid_until"),
    (json.dumps({k: v for k, v in offer_body().items() if k != "valid_from"}), "valid_from"),
    ('{"title": "x", "amount": 1.005, "valid_from": "2026-03-01", "valid_until": "2026-03-01"}', "amount"),
    ('{"title": "x", "amount": 10.123, "valid_from": "2026-03-01", "valid_until": "2026-03-01"}', "amount"),
    ('{"title": "x", "amount": NaN, "valid_from": "2026-03-01", "valid_until": "2026-03-01"}', None),
    ('{"title": "x", "amount": ', None),
    ("[1, 2]", None),
])
async def test_create_validation(client, db, auth, raw, field):
    admin = await factories.make_admin(db)
    resp = await post_raw(client, auth, admin, raw)
    assert resp.status == 422, await resp.text()
    body = await resp.json()
    assert body["code"] == "VALIDATION_ERROR"
    if field:
        assert ["body", field] in [e["loc"] for e in body["detail"]]
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(wallet_offers)) == 0
    assert await audit_rows(db) == []


async def test_the_public_list_shows_todays_offers_in_india(make_client, db, auth):
    client = await make_client(clock=FrozenClock(IST_MIDNIGHT_PAST))
    admin = await factories.make_admin(db)
    specs = [("Today in India", 1000, "2026-03-02", "2026-03-02", True),
             ("Ended yesterday (IST)", 200, "2026-02-01", "2026-03-01", True),
             ("Inactive", 300, "2026-03-01", "2026-03-31", False),
             ("Month pack", 500, "2026-03-01", "2026-03-31", True),
             ("Next week", 700, "2026-03-09", "2026-03-31", True)]
    for title, amount, start, end, active in specs:
        resp = await client.post(ADMIN, json=offer_body(title=title, amount=amount, valid_from=start, valid_until=end,
                                                        is_active=active), headers=auth("admin", admin["id"]))
        assert resp.status == 201
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, auth("client", (await factories.make_user(db))["id"])):
        resp = await client.get(f"{API}/wallet/offers", headers=headers)
        assert resp.status == 200 and resp.headers["Cache-Control"] == "public, max-age=300"
        offers = await resp.json()
        assert [(o["title"], o["amount"], o["bonus_amount"]) for o in offers] == [
            ("Month pack", 50_000, 5_000), ("Today in India", 100_000, 5_000)]
    assert set(offers[0]) >= {"id", "title", "description", "amount", "bonus_amount", "amount_inr",
                              "bonus_amount_inr", "valid_from", "valid_until", "is_active"}


async def test_update_is_partial_and_keeps_validity(client, db, auth):
    admin = await factories.make_admin(db)
    headers = auth("admin", admin["id"])
    offer = await (await client.post(ADMIN, json=offer_body(description="d"), headers=headers)).json()
    url = f"{ADMIN}/{offer['id']}"
    resp = await client.patch(url, data='{"amount": 600.5, "description": null}',
                              headers={**headers, "Content-Type": "application/json"})
    assert resp.status == 200
    body = await resp.json()
    assert (body["amount"], body["amount_inr"], body["description"], body["title"], body["bonus_amount"]) == (
        60_050, "600.50", None, "Starter Pack", 5_000)
    resp = await client.patch(url, json={"valid_until": "2026-02-28"}, headers=headers)  # before valid_from
    assert resp.status == 422 and (await resp.json())["detail"][0]["loc"] == ["body", "valid_until"]
    resp = await client.patch(url, json={"amount": 0}, headers=headers)
    assert resp.status == 422
    assert (await (await client.get(url, headers=headers)).json())["valid_until"] == "2026-03-31"
    assert (await client.patch(url, headers=headers)).status == 200  # nothing to change
    resp = await client.patch(f"{ADMIN}/{uuid.uuid4()}", json={"title": "x"}, headers=headers)
    assert resp.status == 404 and (await resp.json())["code"] == "WALLET_OFFER_NOT_FOUND"
    updates = [r for r in await audit_rows(db) if r["action"] == "wallet_offer.update"]
    assert [sorted(r["changed_fields"]) for r in updates] == [["amount", "description"], []]
    assert {r["target_id"] for r in updates} == {offer["id"]}


async def test_delete_removes_an_unused_offer_and_deactivates_a_used_one(client, db, auth):
    admin, user = await factories.make_admin(db), await factories.make_user(db)
    headers = auth("admin", admin["id"])
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=5, minutes=30))).date()
    window = {"valid_from": str(today), "valid_until": str(today + dt.timedelta(days=7))}
    unused = await (await client.post(ADMIN, json=offer_body(**window), headers=headers)).json()
    used = await (await client.post(ADMIN, json=offer_body(amount=1000, **window), headers=headers)).json()
    await create_order(client, auth, user, amount=100_000, offer_id=used["id"])

    assert (await client.delete(f"{ADMIN}/{unused['id']}", headers=headers)).status == 204
    assert (await client.get(f"{ADMIN}/{unused['id']}", headers=headers)).status == 404
    assert (await client.delete(f"{ADMIN}/{used['id']}", headers=headers)).status == 204
    kept = await (await client.get(f"{ADMIN}/{used['id']}", headers=headers)).json()
    assert kept["is_active"] is False
    assert await (await client.get(f"{API}/wallet/offers")).json() == []
    resp = await client.post(f"{API}/payments/cashfree/orders", json={"amount": 100_000, "offer_id": used["id"]},
                             headers=auth("client", user["id"]))
    assert resp.status == 400 and (await resp.json())["code"] == "OFFER_NOT_APPLICABLE"
    assert (await client.delete(f"{ADMIN}/{unused['id']}", headers=headers)).status == 404
    deletes = [(r["target_id"], list(r["changed_fields"])) for r in await audit_rows(db)
               if r["action"] == "wallet_offer.delete"]
    assert deletes == [(unused["id"], []), (used["id"], ["is_active"])]


async def test_admin_list_pages_and_filters(client, db, auth):
    admin = await factories.make_admin(db)
    headers = auth("admin", admin["id"])
    for i in range(3):
        resp = await client.post(ADMIN, json=offer_body(title=f"Pack {i}", is_active=i != 1), headers=headers)
        assert resp.status == 201
    body = await (await client.get(f"{ADMIN}?limit=2", headers=headers)).json()
    assert (body["total"], body["limit"], body["offset"], body["has_more"]) == (3, 2, 0, True)
    assert [o["title"] for o in body["items"]] == ["Pack 2", "Pack 1"]
    body = await (await client.get(f"{ADMIN}?is_active=false", headers=headers)).json()
    assert [o["title"] for o in body["items"]] == ["Pack 1"] and body["total"] == 1
    assert (await client.get(f"{ADMIN}?limit=101", headers=headers)).status == 422


async def test_admin_routes_are_for_admins(client, db, auth):
    user = await factories.make_user(db)
    assert (await client.post(ADMIN, json=offer_body(), headers=auth("client", user["id"]))).status == 403
    assert (await client.get(ADMIN)).status == 401
    assert (await client.get(f"{ADMIN}/not-a-uuid", headers=auth("admin", uuid.uuid4()))).status == 404


async def test_local_demo_offers_are_seeded_once(client, settings, pool):
    from gateway.seed import DEMO_OFFERS, seed_demo_data
    await asyncio.gather(seed_demo_data(pool, settings), seed_demo_data(pool, settings))
    await seed_demo_data(pool, settings)
    offers = await (await client.get(f"{API}/wallet/offers")).json()
    assert [(o["title"], o["amount"], o["bonus_amount"]) for o in offers] == [o[:1] + o[2:] for o in DEMO_OFFERS]
