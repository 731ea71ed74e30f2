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


# Whichever answer wins decides the rest: (final status, the losers' code, the doctor's presence).
AFTER = {"accept": ("ONGOING", "SESSION_NOT_REQUESTED", "BUSY"), "reject": ("REJECTED", "SESSION_REJECTED", "ONLINE")}


async def test_concurrent_accept_and_reject_one_winner(api, db, auth):
    patient, doctor, sid = await _request(api, db, auth)
    headers = auth("doctor", doctor["id"])
    actions = ["accept", "reject"] * 5
    responses = await asyncio.gather(*[api.post(f"{SESSIONS}/{sid}/{action}", headers=headers) for action in actions])
    [winner] = [action for action, r in zip(actions, responses) if r.status == 200]
    status, losers_code, presence = AFTER[winner]
    assert await _statuses(responses) == {(200, None): 1, (409, losers_code): 9}
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(connect_sessions.c.status)) == status
        assert await conn.scalar(sa.select(doctors.c.presence_status).where(doctors.c.id == doctor["id"])) == presence
    assert await _count(db, event_outbox, event_outbox.c.event_type == "session_request_removed") == 1


async def _until_waiting_on_locks(db, count: int, timeout: float = 10.0) -> None:
    """Until `count` backends of the test database wait for a lock (requests queued on a row)."""
    async with asyncio.timeout(timeout):
        while True:
            async with db.connect() as conn:
                waiting = await conn.scalar(sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"))
            if waiting >= count:
                assert waiting == count
                return
            await asyncio.sleep(0.02)


async def test_concurrent_cancel_and_accept_one_winner(api, db, auth):
    """The patient's cancel and three accepts all in flight on the locked row, the cancel first in its
    queue: the cancel wins, and each accept, re-reading the row once it holds the lock, finds it
    CANCELLED (not a stale REQUESTED it would start and bill)."""
    patient, doctor, sid = await _request(api, db, auth)
    doctor_h, patient_h = auth("doctor", doctor["id"]), auth("client", patient["id"])
    async with db.connect() as holder:
        tx = await holder.begin()
        await holder.execute(sa.select(connect_sessions.c.id).where(connect_sessions.c.id == sid).with_for_update())
        cancel = asyncio.create_task(api.post(f"{SESSIONS}/{sid}/end", headers=patient_h))
        await _until_waiting_on_locks(db, 1)
        accepts = [asyncio.create_task(api.post(f"{SESSIONS}/{sid}/accept", headers=doctor_h)) for _ in range(3)]
        await _until_waiting_on_locks(db, 4)
        await tx.rollback()
    cancelled = await cancel
    assert cancelled.status == 200, await cancelled.text()
    assert (await cancelled.json())["status"] == "CANCELLED"
    assert await _statuses([await a for a in accepts]) == {(409, "SESSION_CANCELLED"): 3}
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(connect_sessions))).mappings().one()
        presence = await conn.scalar(sa.select(doctors.c.presence_status).where(doctors.c.id == doctor["id"]))
    assert (row["status"], row["ended_by"], row["started_at"]) == ("CANCELLED", "patient", None)
    assert presence == "ONLINE"  # never made BUSY by an accept
    assert await _count(db, wallet_transactions) == 0
    removed = await _count(db, event_outbox, event_outbox.c.event_type == "session_request_removed")
    assert removed == 1 and await _count(db, event_outbox, event_outbox.c.event_type == "session.ended") == 0


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
