"""Accept, reject, end and cancel: status codes, rows, presence, outbox events and pushes."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from storage.tables import connect_sessions, doctors, event_outbox, notifications, wallet_transactions
from tests import factories
from tests.test_sessions import verify_livekit

API = "/api/v2"
SESSIONS = f"{API}/connect/sessions"


@pytest.fixture
async def api(make_client, frozen_clock):
    return await make_client(clock=frozen_clock, sweeper_interval=3600)


@pytest.fixture
def auth(settings):
    def headers(role: str, subject_id: uuid.UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {factories.access_token(settings, role, subject_id, ttl=86_400)}"}

    return headers


@pytest.fixture
async def requested(api, db, auth):
    """A patient with 100 INR, an ONLINE doctor at 5 INR/min, and a fresh request between them."""
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    await factories.make_wallet(db, patient["id"], 10_000)
    resp = await api.post(SESSIONS, json={"target_doctor_id": str(doctor["id"])},
                          headers=auth("client", patient["id"]))
    assert resp.status == 201
    sid = (await resp.json())["session_id"]
    return {"patient": patient, "doctor": doctor, "sid": sid,
            "p": auth("client", patient["id"]), "d": auth("doctor", doctor["id"])}


async def _session(db, sid):
    async with db.connect() as conn:
        return (await conn.execute(sa.select(connect_sessions).where(connect_sessions.c.id == sid))).mappings().one()


async def _presence(db, doctor_id):
    async with db.connect() as conn:
        return await conn.scalar(sa.select(doctors.c.presence_status).where(doctors.c.id == doctor_id))


async def _events_after_request(db):
    """Outbox rows after the initial `session_requested`, as (channel, type, data)."""
    async with db.connect() as conn:
        rows = (await conn.execute(sa.select(event_outbox).order_by(event_outbox.c.id))).mappings().all()
    assert rows[0]["event_type"] == "session_requested"
    return [(r["channel"], r["event_type"], r["data"]) for r in rows[1:]]


async def _pushes(db, event_type):
    async with db.connect() as conn:
        rows = (await conn.execute(sa.select(notifications).where(notifications.c.event_type == event_type)
                                   )).mappings().all()
    return [(r["recipient_role"], r["recipient_id"], r["data"]) for r in rows]


async def _code(resp):
    return resp.status, (await resp.json()).get("code")


# --- accept ---------------------------------------------------------------------------------

async def test_accept_starts_the_session(api, db, requested, settings, frozen_clock):
    sid, doctor, patient = requested["sid"], requested["doctor"], requested["patient"]
    resp = await api.post(f"{SESSIONS}/{sid}/accept", headers=requested["d"])
    assert resp.status == 200
    body = await resp.json()
    assert body["session_id"] == sid and body["status"] == "ONGOING"
    assert body["doctor_id"] == str(doctor["id"])
    assert body["started_at"] == frozen_clock.now().isoformat().replace("+00:00", "Z")
    verify_livekit(settings, body["livekit"], f"cn-{sid}", f"doctor-{doctor['id']}")
    row = await _session(db, sid)
    assert row["status"] == "ONGOING" and row["started_at"] == frozen_clock.now()
    assert await _presence(db, doctor["id"]) == "BUSY"
    assert await _events_after_request(db) == [
        (f"doctor:{doctor['id']}:requests", "session_request_removed", {"session_id": sid, "status": "ONGOING"})]
    assert await _pushes(db, "session.accepted") == [
        ("client", patient["id"], {"type": "session.accepted", "session_id": sid, "status": "ONGOING"})]


async def test_accept_refusals(api, db, auth, requested):
    sid = requested["sid"]
    other_doctor = await factories.make_doctor(db)
    assert await _code(await api.post(f"{SESSIONS}/{sid}/accept", headers=auth("doctor", other_doctor["id"]))) \
        == (404, "SESSION_NOT_FOUND")
    assert (await api.post(f"{SESSIONS}/{sid}/accept", headers=requested["p"])).status == 403
    assert (await api.post(f"{SESSIONS}/{uuid.uuid4()}/accept", headers=requested["d"])).status == 404
    assert (await api.post(f"{SESSIONS}/{sid}/accept", headers=requested["d"])).status == 200
    assert await _code(await api.post(f"{SESSIONS}/{sid}/accept", headers=requested["d"])) \
        == (409, "SESSION_NOT_REQUESTED")
    assert await _code(await api.post(f"{SESSIONS}/{sid}/reject", headers=requested["d"])) \
        == (409, "SESSION_NOT_REQUESTED")


async def test_accept_after_expiry_expires_it(api, db, requested, frozen_clock):
    sid, doctor, patient = requested["sid"], requested["doctor"], requested["patient"]
    frozen_clock.advance(30 * 60)
    assert await _code(await api.post(f"{SESSIONS}/{sid}/accept", headers=requested["d"])) == (409, "SESSION_EXPIRED")
    assert (await _session(db, sid))["status"] == "EXPIRED"
    assert await _presence(db, doctor["id"]) == "ONLINE"
    assert await _events_after_request(db) == [
        (f"doctor:{doctor['id']}:requests", "session_request_removed", {"session_id": sid, "status": "EXPIRED"})]
    assert await _pushes(db, "session.expired") == [
        ("client", patient["id"], {"type": "session.expired", "session_id": sid, "status": "EXPIRED"})]
    # Written once: asking again changes nothing and says the same.
    assert await _code(await api.post(f"{SESSIONS}/{sid}/reject", headers=requested["d"])) == (409, "SESSION_EXPIRED")
    assert len(await _events_after_request(db)) == 1


async def test_accept_keeps_an_offline_doctor_offline(api, db, requested):
    async with db.begin() as conn:
        await conn.execute(sa.update(doctors).values(presence_status="OFFLINE"))
    assert (await api.post(f"{SESSIONS}/{requested['sid']}/accept", headers=requested["d"])).status == 200
    assert await _presence(db, requested["doctor"]["id"]) == "OFFLINE"


# --- reject ---------------------------------------------------------------------------------

async def test_reject(api, db, requested):
    sid, doctor, patient = requested["sid"], requested["doctor"], requested["patient"]
    resp = await api.post(f"{SESSIONS}/{sid}/reject", headers=requested["d"])
    assert resp.status == 200 and (await resp.json())["status"] == "REJECTED"
    assert (await _session(db, sid))["status"] == "REJECTED"
    assert await _events_after_request(db) == [
        (f"doctor:{doctor['id']}:requests", "session_request_removed", {"session_id": sid, "status": "REJECTED"})]
    assert await _pushes(db, "session.rejected") == [
        ("client", patient["id"], {"type": "session.rejected", "session_id": sid, "status": "REJECTED"})]
    assert await _code(await api.post(f"{SESSIONS}/{sid}/accept", headers=requested["d"])) == (409, "SESSION_REJECTED")
    assert await _code(await api.post(f"{SESSIONS}/{sid}/end", headers=requested["p"])) == (409, "SESSION_REJECTED")
    assert await _presence(db, doctor["id"]) == "ONLINE"


# --- end and cancel -------------------------------------------------------------------------

async def test_patient_cancels_a_request(api, db, requested):
    sid, doctor = requested["sid"], requested["doctor"]
    resp = await api.post(f"{SESSIONS}/{sid}/end", json={"reason": "changed my mind"}, headers=requested["p"])
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "CANCELLED" and body["billed_amount"] is None
    row = await _session(db, sid)
    assert row["status"] == "CANCELLED" and row["ended_by"] == "patient" and row["end_reason"] == "changed my mind"
    assert await _events_after_request(db) == [
        (f"doctor:{doctor['id']}:requests", "session_request_removed", {"session_id": sid, "status": "CANCELLED"})]
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(wallet_transactions)) == 0
    assert await _code(await api.post(f"{SESSIONS}/{sid}/end", headers=requested["p"])) == (409, "SESSION_CANCELLED")
    assert await _code(await api.post(f"{SESSIONS}/{sid}/accept", headers=requested["d"])) == (409, "SESSION_CANCELLED")


async def test_doctor_cannot_end_a_request(api, db, requested):
    assert await _code(await api.post(f"{SESSIONS}/{requested['sid']}/end", headers=requested["d"])) \
        == (409, "SESSION_NOT_STARTED")
    assert (await _session(db, requested["sid"]))["status"] == "REQUESTED"


@pytest.mark.parametrize("ender", ["p", "d"])
async def test_end_an_ongoing_session(api, db, requested, frozen_clock, ender):
    sid, doctor, patient = requested["sid"], requested["doctor"], requested["patient"]
    assert (await api.post(f"{SESSIONS}/{sid}/accept", headers=requested["d"])).status == 200
    frozen_clock.advance(150.25)
    resp = await api.post(f"{SESSIONS}/{sid}/end", json={"reason": "completed", "note": "all good"},
                          headers=requested[ender])
    body = await resp.json()
    assert resp.status == 200
    ended_by = {"p": "patient", "d": "doctor"}[ender]
    ended_at = frozen_clock.now().isoformat().replace("+00:00", "Z")
    assert body == {"session_id": sid, "status": "ENDED", "started_at": body["started_at"], "ended_at": ended_at,
                    "ended_by": ended_by, "reason": "completed", "duration_seconds": 150.25,
                    "billed_minutes": 3, "billed_amount": 1_500}
    row = await _session(db, sid)
    assert row["status"] == "ENDED" and row["end_note"] == "all good"
    events = await _events_after_request(db)
    assert events[-1] == (f"session:{sid}", "session.ended", {
        "session_id": sid, "ended_by": ended_by, "reason": "completed", "ended_at": ended_at,
        "duration_seconds": 150.25, "billed_amount": 1_500})
    other = ("doctor", doctor["id"]) if ender == "p" else ("client", patient["id"])
    assert [(r, i) for r, i, _ in await _pushes(db, "session.ended")] == [other]
    assert await _presence(db, doctor["id"]) == "ONLINE"
    # Ending again is a clear 409 and bills nothing more.
    for headers in (requested["p"], requested["d"]):
        assert await _code(await api.post(f"{SESSIONS}/{sid}/end", headers=headers)) == (409, "SESSION_ALREADY_ENDED")
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(wallet_transactions)) == 1


async def test_end_validation_and_empty_bodies(api, db, requested):
    sid = requested["sid"]
    assert (await api.post(f"{SESSIONS}/{sid}/accept", headers=requested["d"])).status == 200
    resp = await api.post(f"{SESSIONS}/{sid}/end", json={"reason": "x" * 51}, headers=requested["p"])
    assert resp.status == 422 and (await resp.json())["detail"][0]["loc"] == ["body", "reason"]
    resp = await api.post(f"{SESSIONS}/{sid}/end", data=b"{not json", headers={
        **requested["p"], "Content-Type": "application/json"})
    assert resp.status == 422
    assert (await _session(db, sid))["status"] == "ONGOING"
    resp = await api.post(f"{SESSIONS}/{sid}/end", headers=requested["p"])  # no body at all
    assert resp.status == 200 and (await resp.json())["reason"] is None


async def test_foreign_participants_cannot_end(api, db, auth, requested):
    sid = requested["sid"]
    stranger = await factories.make_user(db)
    other_doctor = await factories.make_doctor(db)
    admin = await factories.make_admin(db)
    assert (await api.post(f"{SESSIONS}/{sid}/end", headers=auth("client", stranger["id"]))).status == 404
    assert (await api.post(f"{SESSIONS}/{sid}/end", headers=auth("doctor", other_doctor["id"]))).status == 404
    assert (await api.post(f"{SESSIONS}/{sid}/end", headers=auth("admin", admin["id"]))).status == 403
    assert (await _session(db, sid))["status"] == "REQUESTED"


async def test_doctor_stays_busy_until_the_last_ongoing_session_ends(api, db, auth, requested):
    doctor = requested["doctor"]
    assert (await api.post(f"{SESSIONS}/{requested['sid']}/accept", headers=requested["d"])).status == 200
    other_patient = await factories.make_user(db)
    await factories.make_wallet(db, other_patient["id"], 10_000)
    second = await factories.make_session(db, other_patient["id"], doctor["id"], status="ONGOING")
    assert await _presence(db, doctor["id"]) == "BUSY"
    assert (await api.post(f"{SESSIONS}/{requested['sid']}/end", headers=requested["p"])).status == 200
    assert await _presence(db, doctor["id"]) == "BUSY"
    resp = await api.post(f"{SESSIONS}/{second['id']}/end", headers=auth("client", other_patient["id"]))
    assert resp.status == 200
    assert await _presence(db, doctor["id"]) == "ONLINE"


async def test_ending_does_not_bring_an_offline_doctor_online(api, db, requested):
    assert (await api.post(f"{SESSIONS}/{requested['sid']}/accept", headers=requested["d"])).status == 200
    async with db.begin() as conn:
        await conn.execute(sa.update(doctors).values(presence_status="OFFLINE"))
    assert (await api.post(f"{SESSIONS}/{requested['sid']}/end", headers=requested["d"])).status == 200
    assert await _presence(db, requested["doctor"]["id"]) == "OFFLINE"
