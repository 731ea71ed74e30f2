"""The session sweeper: expiry with nobody touching the session, several processes, the balance
watcher, and surviving its own errors. Driven by the frozen clock, never by waiting minutes."""
from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from gateway.sweeper import sweep_once
from storage.tables import connect_sessions, event_outbox, notifications, wallet_transactions, wallets
from tests import factories

API = "/api/v2"
SESSIONS = f"{API}/connect/sessions"
TTL = 30 * 60


@pytest.fixture
def auth(settings):
    def headers(role: str, subject_id: uuid.UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {factories.access_token(settings, role, subject_id, ttl=86_400)}"}

    return headers


@pytest.fixture
async def api(make_client, frozen_clock):
    return await make_client(clock=frozen_clock, sweeper_interval=3600)


async def _request(api, db, auth, *, balance=10_000, rate=500):
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db, rate_per_minute=rate)
    await factories.make_wallet(db, patient["id"], balance)
    resp = await api.post(SESSIONS, json={"target_doctor_id": str(doctor["id"])}, headers=auth("client", patient["id"]))
    assert resp.status == 201
    return patient, doctor, (await resp.json())["session_id"]


async def _ongoing(api, db, auth, **kw):
    patient, doctor, sid = await _request(api, db, auth, **kw)
    assert (await api.post(f"{SESSIONS}/{sid}/accept", headers=auth("doctor", doctor["id"]))).status == 200
    return patient, doctor, sid


async def _status(db, sid):
    async with db.connect() as conn:
        return await conn.scalar(sa.select(connect_sessions.c.status).where(connect_sessions.c.id == sid))


async def _rows(db, table, *where):
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(table).where(*where))).mappings().all()]


async def test_expires_a_request_nobody_touches(api, db, auth, frozen_clock):
    patient, doctor, sid = await _request(api, db, auth)
    app = api.server.app
    frozen_clock.advance(TTL - 0.001)
    assert await sweep_once(app) == 0 and await _status(db, sid) == "REQUESTED"
    frozen_clock.advance(0.001)
    assert await sweep_once(app) == 1
    assert await _status(db, sid) == "EXPIRED"
    removed = await _rows(db, event_outbox, event_outbox.c.event_type == "session_request_removed")
    assert [(r["channel"], r["data"]) for r in removed] == [
        (f"doctor:{doctor['id']}:requests", {"session_id": sid, "status": "EXPIRED"})]
    pushed = await _rows(db, notifications, notifications.c.event_type == "session.expired")
    assert [(r["recipient_role"], r["recipient_id"]) for r in pushed] == [("client", patient["id"])]
    assert await sweep_once(app) == 0  # exactly once
    assert len(await _rows(db, event_outbox, event_outbox.c.event_type == "session_request_removed")) == 1
    listed = await (await api.get(f"{SESSIONS}/requests", headers=auth("doctor", doctor["id"]))).json()
    assert listed == {"items": [], "total": 0}


async def test_only_requests_expire(api, db, auth, frozen_clock):
    _, _, ongoing = await _ongoing(api, db, auth, balance=1_000_000)
    frozen_clock.advance(TTL + 1)
    await sweep_once(api.server.app)
    assert await _status(db, ongoing) == "ONGOING"


async def test_several_processes_expire_each_request_once(make_client, db, frozen_clock):
    doctor = await factories.make_doctor(db)
    past = frozen_clock.now()
    patients = [await factories.make_user(db) for _ in range(250)]  # more than one batch of 100
    async with db.begin() as conn:
        await conn.execute(sa.insert(connect_sessions), [
            {"patient_id": p["id"], "doctor_id": doctor["id"], "status": "REQUESTED", "rate_per_minute": 500,
             "room_name": "cn-x", "requested_at": past, "expires_at": past} for p in patients])
    apps = [(await make_client(clock=frozen_clock, sweeper_interval=3600)).server.app for _ in range(3)]
    counts = await asyncio.gather(*[sweep_once(app) for app in apps for _ in range(2)])
    assert sum(counts) == 250
    statuses = {r["status"] for r in await _rows(db, connect_sessions)}
    assert statuses == {"EXPIRED"}
    removed = await _rows(db, event_outbox, event_outbox.c.event_type == "session_request_removed")
    assert len(removed) == 250 and len({r["data"]["session_id"] for r in removed}) == 250
    assert len(await _rows(db, notifications, notifications.c.event_type == "session.expired")) == 250


async def test_background_loop_expires_on_its_own(make_client, db, auth, frozen_clock):
    api = await make_client(clock=frozen_clock, sweeper_interval=0.02)
    _, _, sid = await _request(api, db, auth)
    frozen_clock.advance(TTL)
    await _eventually(lambda: _status(db, sid), "EXPIRED")


async def _eventually(probe, expected, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await probe()) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"still {value!r}"
        await asyncio.sleep(0.02)


# --- balance watcher -------------------------------------------------------------------------

async def test_ends_the_session_when_the_balance_is_reached(api, db, auth, frozen_clock):
    patient, doctor, sid = await _ongoing(api, db, auth, balance=2_500)  # exactly 5 minutes at 500
    app = api.server.app
    frozen_clock.advance(240)  # 4 minutes accrued: 2000 < 2500
    assert await sweep_once(app) == 0 and await _status(db, sid) == "ONGOING"
    frozen_clock.advance(0.001)  # the fifth minute has begun: 2500 reached
    assert await sweep_once(app) == 1
    [session] = await _rows(db, connect_sessions)
    assert session["status"] == "ENDED" and session["ended_by"] == "system"
    assert session["end_reason"] == "balance_exhausted" and session["billed_amount"] == 2_500
    [ledger] = await _rows(db, wallet_transactions)
    assert ledger["amount"] == -2_500 and ledger["balance_after"] == 0
    [wallet] = await _rows(db, wallets)
    assert wallet["balance"] == 0
    [ended] = await _rows(db, event_outbox, event_outbox.c.event_type == "session.ended")
    assert ended["channel"] == f"session:{sid}"
    assert ended["data"]["ended_by"] == "system" and ended["data"]["reason"] == "balance_exhausted"
    pushed = await _rows(db, notifications, notifications.c.event_type == "session.ended")
    assert {(r["recipient_role"], r["recipient_id"]) for r in pushed} == {
        ("client", patient["id"]), ("doctor", doctor["id"])}
    to_patient = next(r for r in pushed if r["recipient_role"] == "client")
    assert "balance ran out" in to_patient["body"] and to_patient["data"]["reason"] == "balance_exhausted"
    assert await sweep_once(app) == 0
    resp = await api.post(f"{SESSIONS}/{sid}/end", headers=auth("client", patient["id"]))
    assert resp.status == 409 and (await resp.json())["code"] == "SESSION_ALREADY_ENDED"


async def test_a_late_sweep_never_takes_the_wallet_below_zero(api, db, auth, frozen_clock):
    _, doctor, sid = await _ongoing(api, db, auth, balance=3_000)
    frozen_clock.advance(20 * 60)  # the server was down: 20 minutes accrued against 6 paid for
    assert await sweep_once(api.server.app) == 1
    [session] = await _rows(db, connect_sessions)
    assert session["billed_minutes"] == 20 and session["billed_amount"] == 3_000
    [wallet] = await _rows(db, wallets)
    assert wallet["balance"] == 0


async def test_a_recharge_keeps_the_session_going(api, db, auth, frozen_clock):
    patient, _, sid = await _ongoing(api, db, auth, balance=2_500)
    await factories.make_wallet(db, patient["id"], 100_000)
    frozen_clock.advance(10 * 60)
    assert await sweep_once(api.server.app) == 0
    assert await _status(db, sid) == "ONGOING"


async def test_free_sessions_are_not_watched(api, db, auth, frozen_clock):
    _, _, sid = await _ongoing(api, db, auth, balance=0, rate=0)
    frozen_clock.advance(3600)
    assert await sweep_once(api.server.app) == 0 and await _status(db, sid) == "ONGOING"


# --- errors ---------------------------------------------------------------------------------

@pytest.fixture
async def broken_session(db):
    """A real database fault: a trigger that refuses any update of one session row."""
    victim = uuid.uuid4()
    async with db.begin() as conn:
        await conn.execute(sa.text("""
            CREATE OR REPLACE FUNCTION test_refuse_update() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'refused by test'; END $$ LANGUAGE plpgsql"""))
        await conn.execute(sa.text(f"""
            CREATE TRIGGER test_refuse_update BEFORE UPDATE ON connect_sessions FOR EACH ROW
            WHEN (OLD.id = '{victim}'::uuid) EXECUTE FUNCTION test_refuse_update()"""))

    async def repair():
        async with db.begin() as conn:
            await conn.execute(sa.text("DROP TRIGGER IF EXISTS test_refuse_update ON connect_sessions"))

    yield victim, repair
    await repair()


async def test_one_failing_session_does_not_stop_the_others(api, db, auth, frozen_clock, broken_session):
    victim, _ = broken_session
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    await factories.make_session(db, patient["id"], doctor["id"], id=victim, started_at=frozen_clock.now())
    _, _, healthy = await _ongoing(api, db, auth, balance=2_500)
    frozen_clock.advance(10 * 60)
    assert await sweep_once(api.server.app) == 1  # the victim's error is logged and skipped
    assert await _status(db, healthy) == "ENDED"
    assert await _status(db, str(victim)) == "ONGOING"


async def test_the_loop_survives_errors_and_recovers(make_client, db, frozen_clock, broken_session, caplog):
    victim, repair = broken_session
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    await factories.make_session(db, patient["id"], doctor["id"], status="REQUESTED", id=victim,
                                 expires_at=frozen_clock.now())
    await make_client(clock=frozen_clock, sweeper_interval=0.02)

    async def failures():
        return sum("expire_lapsed_requests failed" in r.getMessage() for r in caplog.records) >= 3

    await _eventually(failures, True)  # several passes failed, and the loop kept going
    assert await _status(db, str(victim)) == "REQUESTED"
    await repair()
    await _eventually(lambda: _status(db, str(victim)), "EXPIRED")
