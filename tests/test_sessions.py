"""POST /connect/sessions, the doctor's pending requests, session detail and LiveKit join tokens."""
from __future__ import annotations

import datetime as dt
import uuid

import jwt
import pytest
import sqlalchemy as sa
from livekit.api import TokenVerifier

from storage.tables import connect_sessions, event_outbox, notifications
from tests import factories

API = "/api/v2"
SESSIONS = f"{API}/connect/sessions"


@pytest.fixture
async def api(make_client, frozen_clock):
    # A long sweeper interval: these tests decide themselves when anything expires.
    return await make_client(clock=frozen_clock, sweeper_interval=3600)


@pytest.fixture
def auth(settings):
    """Tokens valid for a day: these tests move the frozen clock past the default 30 minutes."""

    def headers(role: str, subject_id: uuid.UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {factories.access_token(settings, role, subject_id, ttl=86_400)}"}

    return headers


async def _people(db, *, balance=10_000, doctor=None, patient=None):
    p = await factories.make_user(db, **(patient or {}))
    d = await factories.make_doctor(db, **(doctor or {}))
    if balance is not None:
        await factories.make_wallet(db, p["id"], balance)
    return p, d


async def _request(api, auth, patient, doctor, **body):
    return await api.post(SESSIONS, json={"target_doctor_id": str(doctor["id"]), **body},
                          headers=auth("client", patient["id"]))


async def _outbox(db):
    async with db.connect() as conn:
        rows = (await conn.execute(sa.select(event_outbox).order_by(event_outbox.c.id))).mappings().all()
    return [(r["channel"], r["event_type"], r["data"]) for r in rows]


async def _sessions(db):
    async with db.connect() as conn:
        rows = (await conn.execute(sa.select(connect_sessions.c.id, connect_sessions.c.status))).all()
    return sorted((str(r.id), r.status) for r in rows)


async def _pushes(db):
    async with db.connect() as conn:
        rows = (await conn.execute(sa.select(notifications).order_by(notifications.c.created_at))).mappings().all()
    return [(r["recipient_role"], r["recipient_id"], r["event_type"], r["data"]) for r in rows]


def verify_livekit(settings, livekit: dict, room: str, identity: str) -> None:
    """The token is LiveKit's: its own verifier accepts it, for this room and identity only, 1 h."""
    assert livekit["ws_url"] == settings.livekit_url
    assert livekit["identity"] == identity and livekit["expires_in"] == 3600
    claims = TokenVerifier(settings.livekit_api_key, settings.livekit_api_secret).verify(livekit["token"])
    assert claims.identity == identity
    assert claims.video.room == room and claims.video.room_join is True
    assert not claims.video.room_admin and not claims.video.room_create and not claims.video.room_list
    raw = jwt.decode(livekit["token"], options={"verify_signature": False})
    assert raw["exp"] - raw["nbf"] == 3600
    with pytest.raises(jwt.InvalidSignatureError):
        TokenVerifier(settings.livekit_api_key, "another-secret-of-at-least-32-chars!").verify(livekit["token"])


async def test_create_returns_reference_shape_with_patient_token(api, db, auth, settings, frozen_clock):
    patient, doctor = await _people(db, doctor={"rate_per_minute": 700})
    resp = await _request(api, auth, patient, doctor, category="Urology", symptoms=[" back pain "],
                          medical_history="Kidney stone 2024", rate_per_minute=1)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    sid = body["session_id"]
    assert body["status"] == "REQUESTED" and body["room_name"] == f"cn-{sid}"
    assert body["rate_per_minute"] == 700  # the doctor's rate; the client's 1 is ignored
    now = frozen_clock.now()
    assert body["created_at"] == now.isoformat().replace("+00:00", "Z")
    expires = (now + dt.timedelta(seconds=settings.session_request_ttl)).isoformat().replace("+00:00", "Z")
    assert body["expires_at"] == expires
    verify_livekit(settings, body["livekit"], f"cn-{sid}", f"patient-{patient['id']}")
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(connect_sessions))).mappings().one()
    assert row["rate_per_minute"] == 700 and row["symptoms"] == ["back pain"]
    assert row["category"] == "Urology" and row["medical_history"] == "Kidney stone 2024"


async def test_client_cannot_raise_or_lower_the_rate(api, db, auth):
    patient, doctor = await _people(db, doctor={"rate_per_minute": 300})
    body = await (await _request(api, auth, patient, doctor, rate_per_minute=100_000)).json()
    assert body["rate_per_minute"] == 300


async def test_create_publishes_request_event_and_pushes_the_doctor(api, db, auth):
    patient, doctor = await _people(db)
    sid = (await (await _request(api, auth, patient, doctor, symptoms=["cough"])).json())["session_id"]
    listed = await (await api.get(f"{SESSIONS}/requests", headers=auth("doctor", doctor["id"]))).json()
    [(channel, kind, data)] = await _outbox(db)
    assert channel == f"doctor:{doctor['id']}:requests" and kind == "session_requested"
    assert data == listed["items"][0]  # the stream's payload is exactly the list's item
    assert data["session_id"] == sid and data["symptoms"] == ["cough"]
    [(role, recipient, event, pdata)] = await _pushes(db)
    assert (role, recipient, event) == ("doctor", doctor["id"], "session.requested")
    assert pdata == {"type": "session.requested", "session_id": sid, "status": "REQUESTED"}


@pytest.mark.parametrize("doctor, patient, status, code", [
    ({"is_active": False}, {}, 404, "DOCTOR_NOT_FOUND"),
    ({}, {"sex": None}, 409, "PROFILE_INCOMPLETE"),
    ({}, {"age": None}, 409, "PROFILE_INCOMPLETE"),
    ({"presence_status": "OFFLINE"}, {"sex": None}, 409, "PROFILE_INCOMPLETE"),  # profile is checked first
    ({"presence_status": "OFFLINE"}, {}, 409, "DOCTOR_UNAVAILABLE"),
    ({"presence_status": "BUSY"}, {}, 409, "DOCTOR_UNAVAILABLE"),
    ({"chat_enabled": False, "call_enabled": False}, {}, 409, "DOCTOR_UNAVAILABLE"),
])
async def test_create_refusals(api, db, auth, doctor, patient, status, code):
    p, d = await _people(db, doctor=doctor, patient=patient)
    resp = await _request(api, auth, p, d)
    assert resp.status == status
    assert (await resp.json())["code"] == code
    assert await _sessions(db) == [] and await _outbox(db) == [] and await _pushes(db) == []


async def test_unknown_doctor_is_404(api, db, auth):
    patient, _ = await _people(db)
    resp = await api.post(SESSIONS, json={"target_doctor_id": str(uuid.uuid4())}, headers=auth("client", patient["id"]))
    assert resp.status == 404 and (await resp.json())["code"] == "DOCTOR_NOT_FOUND"
    assert await _sessions(db) == [] and await _outbox(db) == [] and await _pushes(db) == []


@pytest.mark.parametrize("balance", [2_499, None])
async def test_wallet_must_prepay_five_minutes(api, db, auth, balance):
    patient, doctor = await _people(db, balance=balance)  # rate 500 → 2500 needed
    resp = await _request(api, auth, patient, doctor)
    assert resp.status == 400 and (await resp.json())["code"] == "INSUFFICIENT_BALANCE"
    assert await _sessions(db) == [] and await _outbox(db) == [] and await _pushes(db) == []


async def test_five_minutes_prepaid_is_enough(api, db, auth):
    patient, doctor = await _people(db, balance=2_500)
    resp = await _request(api, auth, patient, doctor)
    assert resp.status == 201, await resp.text()
    assert await _sessions(db) == [((await resp.json())["session_id"], "REQUESTED")]


@pytest.mark.parametrize("existing", ["REQUESTED", "ONGOING"])
async def test_one_active_session_per_patient(api, db, auth, existing):
    patient, doctor = await _people(db)
    other = await factories.make_doctor(db)
    active = await factories.make_session(db, patient["id"], other["id"], status=existing)
    resp = await _request(api, auth, patient, doctor)
    assert resp.status == 409 and (await resp.json())["code"] == "SESSION_ALREADY_ACTIVE"
    assert await _sessions(db) == [(str(active["id"]), existing)]
    assert await _outbox(db) == [] and await _pushes(db) == []


async def test_a_lapsed_request_does_not_block_a_new_one(api, db, auth, frozen_clock):
    patient, doctor = await _people(db)
    first = (await (await _request(api, auth, patient, doctor)).json())["session_id"]
    frozen_clock.advance(30 * 60)  # the sweeper has not run; the request is lapsed all the same
    resp = await _request(api, auth, patient, doctor)
    assert resp.status == 201
    async with db.connect() as conn:
        status = await conn.scalar(sa.select(connect_sessions.c.status).where(connect_sessions.c.id == first))
    assert status == "EXPIRED"
    kinds = [(k, d.get("status")) for _, k, d in await _outbox(db)]
    assert ("session_request_removed", "EXPIRED") in kinds


@pytest.mark.parametrize("body, loc", [
    ({}, ["body", "target_doctor_id"]),
    ({"target_doctor_id": "not-a-uuid"}, ["body", "target_doctor_id"]),
    ({"target_doctor_id": str(uuid.uuid4()), "symptoms": "cough"}, ["body", "symptoms"]),
    ({"target_doctor_id": str(uuid.uuid4()), "category": "x" * 101}, ["body", "category"]),
])
async def test_create_validation(api, db, auth, body, loc):
    patient, _ = await _people(db)
    resp = await api.post(SESSIONS, json=body, headers=auth("client", patient["id"]))
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == loc
    assert await _sessions(db) == [] and await _outbox(db) == []


async def test_create_requires_a_client(api, db, auth):
    patient, doctor = await _people(db)
    body = {"target_doctor_id": str(doctor["id"])}
    assert (await api.post(SESSIONS, json=body)).status == 401
    assert (await api.post(SESSIONS, json=body, headers=auth("doctor", doctor["id"]))).status == 403
    assert await _sessions(db) == [] and await _outbox(db) == [] and await _pushes(db) == []


async def test_requests_lists_own_pending_oldest_first(api, db, auth, frozen_clock):
    doctor = await factories.make_doctor(db)
    other_doctor = await factories.make_doctor(db)
    ids = []
    for _ in range(3):
        patient = await factories.make_user(db)
        await factories.make_wallet(db, patient["id"], 10_000)
        ids.append((await (await _request(api, auth, patient, doctor)).json())["session_id"])
        frozen_clock.advance(5)
    stranger = await factories.make_user(db)
    await factories.make_session(db, stranger["id"], other_doctor["id"], status="REQUESTED")
    ongoing_patient = await factories.make_user(db)
    await factories.make_session(db, ongoing_patient["id"], doctor["id"], status="ONGOING")
    resp = await api.get(f"{SESSIONS}/requests", headers=auth("doctor", doctor["id"]))
    body = await resp.json()
    assert resp.status == 200 and body["total"] == 3
    assert [i["session_id"] for i in body["items"]] == ids
    item = body["items"][0]
    assert set(item) == {"session_id", "status", "requested_at", "expires_at", "category", "symptoms", "patient"}
    assert set(item["patient"]) == {"user_id", "name", "age", "sex", "initials", "avatar_url"}
    # Lapsed requests disappear from the list even before the sweeper writes them.
    frozen_clock.advance(30 * 60 - 15 + 0.001)  # past the first expiry only
    body = await (await api.get(f"{SESSIONS}/requests", headers=auth("doctor", doctor["id"]))).json()
    assert [i["session_id"] for i in body["items"]] == ids[1:]
    assert (await api.get(f"{SESSIONS}/requests", headers=auth("client", stranger["id"]))).status == 403


async def test_detail_for_both_participants_only(api, db, auth):
    patient, doctor = await _people(db, patient={"full_name": "Rahul Sharma", "sex": "female", "age": 28})
    sid = (await (await _request(api, auth, patient, doctor, category="Urology")).json())["session_id"]
    for headers in (auth("client", patient["id"]), auth("doctor", doctor["id"])):
        resp = await api.get(f"{SESSIONS}/{sid}", headers=headers)
        body = await resp.json()
        assert resp.status == 200
        assert body["id"] == sid and body["status"] == "REQUESTED" and body["room_name"] == f"cn-{sid}"
        assert body["patient_id"] == str(patient["id"]) and body["doctor_id"] == str(doctor["id"])
        assert body["category"] == "Urology" and body["started_at"] is None and body["ended_at"] is None
        assert body["patient"]["name"] == "Rahul Sharma" and body["patient"]["initials"] == "RS"
        assert body["patient"]["avatar_url"].startswith("https://api.dicebear.com/")
    stranger = await factories.make_user(db)
    other_doctor = await factories.make_doctor(db)
    assert (await api.get(f"{SESSIONS}/{sid}", headers=auth("client", stranger["id"]))).status == 404
    assert (await api.get(f"{SESSIONS}/{sid}", headers=auth("doctor", other_doctor["id"]))).status == 404
    assert (await api.get(f"{SESSIONS}/{uuid.uuid4()}", headers=auth("client", patient["id"]))).status == 404
    assert (await api.get(f"{SESSIONS}/not-a-uuid", headers=auth("client", patient["id"]))).status == 404


async def test_token_rules_and_identities(api, db, auth, settings):
    patient, doctor = await _people(db)
    sid = (await (await _request(api, auth, patient, doctor)).json())["session_id"]
    p_headers, d_headers = auth("client", patient["id"]), auth("doctor", doctor["id"])
    resp = await api.get(f"{SESSIONS}/{sid}/token", headers=p_headers)
    assert resp.status == 200
    verify_livekit(settings, (await resp.json())["livekit"], f"cn-{sid}", f"patient-{patient['id']}")
    resp = await api.get(f"{SESSIONS}/{sid}/token", headers=d_headers)
    assert resp.status == 409 and (await resp.json())["code"] == "SESSION_NOT_STARTED"
    assert (await api.post(f"{SESSIONS}/{sid}/accept", headers=d_headers)).status == 200
    resp = await api.get(f"{SESSIONS}/{sid}/token", headers=d_headers)
    body = await resp.json()
    assert resp.status == 200 and body["room_name"] == f"cn-{sid}"
    verify_livekit(settings, body["livekit"], f"cn-{sid}", f"doctor-{doctor['id']}")
    assert (await api.post(f"{SESSIONS}/{sid}/end", headers=p_headers)).status == 200
    for headers in (p_headers, d_headers):
        resp = await api.get(f"{SESSIONS}/{sid}/token", headers=headers)
        assert resp.status == 409 and (await resp.json())["code"] == "SESSION_ALREADY_ENDED"
    stranger = await factories.make_user(db)
    assert (await api.get(f"{SESSIONS}/{sid}/token", headers=auth("client", stranger["id"]))).status == 404


async def test_token_for_a_lapsed_request_is_409_expired(api, db, auth, frozen_clock):
    patient, doctor = await _people(db)
    sid = (await (await _request(api, auth, patient, doctor)).json())["session_id"]
    frozen_clock.advance(30 * 60)
    resp = await api.get(f"{SESSIONS}/{sid}/token", headers=auth("client", patient["id"]))
    assert resp.status == 409 and (await resp.json())["code"] == "SESSION_EXPIRED"
