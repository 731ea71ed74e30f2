"""Races over real HTTP: exactly one winner, and a session is billed exactly once."""
from __future__ import annotations

import asyncio
import collections

import pytest
import sqlalchemy as sa

from storage.tables import connect_sessions, doctors, event_outbox, wallet_transactions, wallets
from tests import factories

API = "/api/v2"
SESSIONS = f"{API}/connect/sessions"


@pytest.fixture
async def api(make_client, frozen_clock):
    return await make_client(clock=frozen_clock, sweeper_interval=3600)


async def _request(api, db, auth, *, balance=10_000):
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    await factories.make_wallet(db, patient["id"], balance)
    resp = await api.post(SESSIONS, json={"target_doctor_id": str(doctor["id"])},
                          headers=auth("client", patient["id"]))
    assert resp.status == 201
    return patient, doctor, (await resp.json())["session_id"]


async def _statuses(responses):
    out = collections.Counter()
    for resp in responses:
        out[(resp.status, (await resp.json()).get("code"))] += 1
    return out


async def _count(db, table, *where):
    async with db.connect() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where))


async def test_twenty_concurrent_accepts_one_winner(api, db, auth):
    patient, doctor, sid = await _request(api, db, auth)
    headers = auth("doctor", doctor["id"])
    responses = await asyncio.gather(*[api.post(f"{SESSIONS}/{sid}/accept", headers=headers) for _ in range(20)])
    assert await _statuses(responses) == {(200, None): 1, (409, "SESSION_NOT_REQUESTED"): 19}
    assert await _count(db, event_outbox, event_outbox.c.event_type == "session_request_removed") == 1


async def test_concurrent_accept_and_reject_one_winner(api, db, auth):
    patient, doctor, sid = await _request(api, db, auth)
    headers = auth("doctor", doctor["id"])
    calls = [api.post(f"{SESSIONS}/{sid}/{action}", headers=headers) for action in ["accept", "reject"] * 5]
    responses = await asyncio.gather(*calls)
    assert sum(1 for r in responses if r.status == 200) == 1
    assert all(r.status in (200, 409) for r in responses)
    assert await _count(db, event_outbox, event_outbox.c.event_type == "session_request_removed") == 1


async def test_concurrent_cancel_and_accept_one_winner(api, db, auth):
    patient, doctor, sid = await _request(api, db, auth)
    doctor_h, patient_h = auth("doctor", doctor["id"]), auth("client", patient["id"])
    calls = [api.post(f"{SESSIONS}/{sid}/{action}", headers=headers)
             for action, headers in [("accept", doctor_h), ("end", patient_h)] * 5]
    responses = await asyncio.gather(*calls)
    winners = [r for r in responses if r.status == 200]
    assert len(winners) in (1, 2)  # accept then end (billed) is legal; anything after is 409
    async with db.connect() as conn:
        status = await conn.scalar(sa.select(connect_sessions.c.status))
    assert status in ("CANCELLED", "ONGOING", "ENDED")
    assert await _count(db, wallet_transactions) == (1 if status == "ENDED" else 0)


async def test_double_end_sequential_bills_once(api, db, auth, frozen_clock):
    patient, doctor, sid = await _request(api, db, auth)
    assert (await api.post(f"{SESSIONS}/{sid}/accept", headers=auth("doctor", doctor["id"]))).status == 200
    frozen_clock.advance(90)
    first = await api.post(f"{SESSIONS}/{sid}/end", headers=auth("client", patient["id"]))
    second = await api.post(f"{SESSIONS}/{sid}/end", headers=auth("doctor", doctor["id"]))
    assert first.status == 200 and second.status == 409
    await _assert_billed_once(db, patient, doctor, 1_000)


async def test_double_end_concurrent_bills_once(api, db, auth, frozen_clock):
    patient, doctor, sid = await _request(api, db, auth)
    assert (await api.post(f"{SESSIONS}/{sid}/accept", headers=auth("doctor", doctor["id"]))).status == 200
    frozen_clock.advance(90)
    calls = [api.post(f"{SESSIONS}/{sid}/end", headers=auth(role, who["id"]))
             for role, who in [("client", patient), ("doctor", doctor)] * 10]
    responses = await asyncio.gather(*calls)
    assert await _statuses(responses) == {(200, None): 1, (409, "SESSION_ALREADY_ENDED"): 19}
    await _assert_billed_once(db, patient, doctor, 1_000)
    assert await _count(db, event_outbox, event_outbox.c.event_type == "session.ended") == 1


async def _assert_billed_once(db, patient, doctor, amount):
    async with db.connect() as conn:
        ledger = (await conn.execute(sa.select(wallet_transactions))).mappings().all()
        balance = await conn.scalar(sa.select(wallets.c.balance).where(wallets.c.user_id == patient["id"]))
        doc = (await conn.execute(sa.select(doctors).where(doctors.c.id == doctor["id"]))).mappings().one()
    assert [r["amount"] for r in ledger] == [-amount]
    assert balance == 10_000 - amount
    assert doc["earnings_paise"] == amount and doc["total_sessions"] == 1


async def test_concurrent_requests_by_one_patient_create_one_session(api, db, auth):
    patient = await factories.make_user(db)
    await factories.make_wallet(db, patient["id"], 10_000)
    targets = [await factories.make_doctor(db) for _ in range(10)]
    headers = auth("client", patient["id"])
    responses = await asyncio.gather(*[
        api.post(SESSIONS, json={"target_doctor_id": str(d["id"])}, headers=headers) for d in targets])
    assert await _statuses(responses) == {(201, None): 1, (409, "SESSION_ALREADY_ACTIVE"): 9}
    assert await _count(db, connect_sessions) == 1
    assert await _count(db, event_outbox) == 1  # the losers' events rolled back with them
