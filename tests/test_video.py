"""Video permission state machine (every state x action x role), its endpoints, and call sessions."""
from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest
import sqlalchemy as sa

from domain import video_permission as vp
from domain.errors import Conflict, Forbidden
from storage.tables import call_sessions, connect_sessions, event_outbox, notifications
from tests import factories

# The contract's table, written out independently of the implementation.
VALID = {
    ("NOT_ALLOWED", "allow", "doctor"): "ALLOWED_BY_DOCTOR",
    ("DECLINED_BY_PATIENT", "allow", "doctor"): "ALLOWED_BY_DOCTOR",
    ("ALLOWED_BY_DOCTOR", "accept", "client"): "VIDEO_ON",
    ("ALLOWED_BY_DOCTOR", "decline", "client"): "DECLINED_BY_PATIENT",
    ("VIDEO_ON", "toggle_off", "client"): "VIDEO_OFF",
    ("VIDEO_OFF", "toggle_on", "client"): "VIDEO_ON",
    **{(state, "revoke", role): "NOT_ALLOWED"
       for state in ("ALLOWED_BY_DOCTOR", "VIDEO_ON", "VIDEO_OFF") for role in ("doctor", "client")},
}
ROLE_OF = {"allow": {"doctor"}, "accept": {"client"}, "decline": {"client"}, "toggle_on": {"client"},
           "toggle_off": {"client"}, "revoke": {"doctor", "client"}}
ALL = list(itertools.product(vp.STATES, vp.ACTIONS, ("doctor", "client")))


def test_table_covers_every_pair():
    assert len(ALL) == 5 * 6 * 2
    assert set(VALID) <= set(ALL)


@pytest.mark.parametrize("state, action, role", ALL)
def test_transition(state, action, role):
    if (state, action, role) in VALID:
        assert vp.transition(state, action, role) == VALID[(state, action, role)]
    elif role not in ROLE_OF[action]:
        with pytest.raises(Forbidden):
            vp.transition(state, action, role)
    else:
        with pytest.raises(Conflict) as err:
            vp.transition(state, action, role)
        assert err.value.code == "INVALID_TRANSITION"


def test_derived_fields():
    assert [s for s in vp.STATES if vp.patient_video_enabled(s)] == ["VIDEO_ON"]
    assert vp.consent_round_after("allow", 2) == 3
    assert all(vp.consent_round_after(a, 2) == 2 for a in vp.ACTIONS if a != "allow")


# --- endpoints ----------------------------------------------------------------------------

@pytest.fixture
async def pair(db):
    return await factories.make_participants(db, "Rahul", "Dr. Asha")


def perm(session, action=""):
    return f"/api/v2/connect/sessions/{session['id']}/video-permission" + (f"/{action}" if action else "")


async def _session_row(db, session_id):
    async with db.connect() as conn:
        return dict((await conn.execute(sa.select(connect_sessions).where(
            connect_sessions.c.id == session_id))).mappings().one())


async def _rows(db, table, *where):
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(table).where(*where))).mappings()]


async def test_full_consent_flow(client, db, auth, pair):
    patient, doctor, session = pair
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    resp = await client.get(perm(session), headers=p)
    assert (await resp.json()) == {"session_id": str(session["id"]), "video_permission_state": "NOT_ALLOWED",
                                   "patient_video_enabled": False, "consent_round": 0}
    steps = [
        ("allow", d, None, "ALLOWED_BY_DOCTOR", False, 1),
        ("accept", p, None, "VIDEO_ON", True, 1),
        ("toggle", p, {"enabled": False}, "VIDEO_OFF", False, 1),
        ("toggle", p, {"enabled": True}, "VIDEO_ON", True, 1),
        ("revoke", p, None, "NOT_ALLOWED", False, 1),
        ("allow", d, None, "ALLOWED_BY_DOCTOR", False, 2),
        ("decline", p, None, "DECLINED_BY_PATIENT", False, 2),
        ("allow", d, None, "ALLOWED_BY_DOCTOR", False, 3),
        ("revoke", d, None, "NOT_ALLOWED", False, 3),
    ]
    for action, headers, body, state, enabled, rounds in steps:
        resp = await client.post(perm(session, action), json=body, headers=headers)
        assert resp.status == 200, (action, await resp.text())
        out = await resp.json()
        assert (out["video_permission_state"], out["patient_video_enabled"], out["consent_round"]) == \
            (state, enabled, rounds)
        row = await _session_row(db, session["id"])
        assert (row["video_permission_state"], row["patient_video_enabled"], row["consent_round"]) == \
            (state, enabled, rounds)
    events = await _rows(db, event_outbox, event_outbox.c.event_type == "video.permission")
    assert [e["data"]["video_permission_state"] for e in sorted(events, key=lambda e: e["id"])] == \
        [s[3] for s in steps]
    assert all(e["channel"] == f"session:{session['id']}" for e in events)
    pushes = await _rows(db, notifications, notifications.c.event_type == "video.permission")
    assert len(pushes) == len(steps)
    to_patient = [n for n in pushes if n["recipient_role"] == "client"]
    assert {n["recipient_id"] for n in to_patient} == {patient["id"]}
    assert len(to_patient) == 4  # the doctor's allows and revoke
    invite = next(n for n in to_patient if n["data"]["video_permission_state"] == "ALLOWED_BY_DOCTOR")
    assert "Dr. Asha" in invite["body"] and invite["data"]["type"] == "video.permission"


async def test_refusals(client, db, auth, pair):
    patient, doctor, session = pair
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    resp = await client.post(perm(session, "accept"), headers=p)
    assert resp.status == 409 and (await resp.json())["code"] == "INVALID_TRANSITION"
    assert (await client.post(perm(session, "accept"), headers=d)).status == 403
    assert (await client.post(perm(session, "allow"), headers=p)).status == 403
    assert (await client.post(perm(session, "toggle"), headers=p)).status == 422
    assert (await client.post(perm(session, "toggle"), json={"enabled": True}, headers=p)).status == 409
    resp = await client.post(perm(session, "revoke"), headers=d)
    assert resp.status == 409 and (await resp.json())["code"] == "INVALID_TRANSITION"
    stranger = await factories.make_doctor(db)
    assert (await client.post(perm(session, "allow"), headers=auth("doctor", stranger["id"]))).status == 404
    assert (await client.get(perm(session), headers=auth("doctor", stranger["id"]))).status == 404
    ended = await factories.make_session(db, (await factories.make_user(db))["id"], doctor["id"], status="ENDED")
    resp = await client.post(perm(ended, "allow"), headers=d)
    assert resp.status == 409 and (await resp.json())["code"] == "SESSION_NOT_ONGOING"
    assert (await client.get(perm(ended), headers=d)).status == 200
    assert (await _session_row(db, session["id"]))["video_permission_state"] == "NOT_ALLOWED"
    assert await _rows(db, event_outbox) == []


async def test_concurrent_allows_apply_once(client, db, auth, pair):
    _, doctor, session = pair
    responses = await asyncio.gather(*(client.post(perm(session, "allow"), headers=auth("doctor", doctor["id"]))
                                       for _ in range(10)))
    assert sorted(r.status for r in responses) == [200] + [409] * 9
    row = await _session_row(db, session["id"])
    assert row["video_permission_state"] == "ALLOWED_BY_DOCTOR" and row["consent_round"] == 1
    assert len(await _rows(db, event_outbox, event_outbox.c.event_type == "video.permission")) == 1


async def test_concurrent_revoke_and_toggle_lose_nothing(client, db, auth, pair):
    patient, doctor, session = pair
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    for _ in range(5):
        await client.post(perm(session, "allow"), headers=d)
        await client.post(perm(session, "accept"), headers=p)
        toggle, revoke = await asyncio.gather(client.post(perm(session, "toggle"), json={"enabled": False}, headers=p),
                                              client.post(perm(session, "revoke"), headers=d))
        assert revoke.status == 200  # valid from VIDEO_ON and from VIDEO_OFF alike
        assert toggle.status in (200, 409)
        row = await _session_row(db, session["id"])
        assert row["video_permission_state"] == "NOT_ALLOWED" and row["patient_video_enabled"] is False
    events = sorted(await _rows(db, event_outbox, event_outbox.c.event_type == "video.permission"),
                    key=lambda e: e["id"])
    # Every applied change is an event, each starting where the previous one ended.
    for before, after in zip(events, events[1:]):
        assert after["data"]["previous_state"] == before["data"]["video_permission_state"]


# --- call sessions ------------------------------------------------------------------------

async def test_call_session_is_idempotent_per_room(client, db, auth, pair):
    patient, doctor, session = pair
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    resp = await client.post("/api/v2/connect/call-sessions", json={"connect_session_id": str(session["id"])},
                             headers=p)
    assert resp.status == 201
    call = await resp.json()
    assert call["connect_session_id"] == str(session["id"]) and call["call_type"] == "AUDIO"
    assert call["status"] == "CONNECTED" and call["livekit_room_name"] == f"cn-{session['id']}"
    assert call["video_permission_state"] == "NOT_ALLOWED" and call["patient_video_enabled"] is False
    again = await client.post("/api/v2/connect/call-sessions",
                              json={"connect_session_id": str(session["id"]), "call_type": "VIDEO"}, headers=d)
    assert again.status == 200 and (await again.json())["id"] == call["id"]
    await client.post(perm(session, "allow"), headers=d)
    await client.post(perm(session, "accept"), headers=p)
    got = await client.get(f"/api/v2/connect/call-sessions/{call['id']}", headers=d)
    assert got.status == 200
    body = await got.json()
    assert body["video_permission_state"] == "VIDEO_ON" and body["patient_video_enabled"] is True
    stranger = await factories.make_user(db)
    assert (await client.get(f"/api/v2/connect/call-sessions/{call['id']}",
                             headers=auth("client", stranger["id"]))).status == 404
    assert (await client.get(f"/api/v2/connect/call-sessions/{uuid.uuid4()}", headers=p)).status == 404
    async with db.begin() as conn:
        await conn.execute(sa.update(connect_sessions).where(connect_sessions.c.id == session["id"])
                           .values(status="ENDED"))
    assert (await (await client.get(f"/api/v2/connect/call-sessions/{call['id']}", headers=p)).json()
            )["status"] == "ENDED"


async def test_concurrent_call_creates_make_one(client, db, auth, pair):
    patient, doctor, session = pair
    body = {"connect_session_id": str(session["id"]), "call_type": "VIDEO"}
    responses = await asyncio.gather(*(
        client.post("/api/v2/connect/call-sessions", json=body,
                    headers=auth("client", patient["id"]) if n % 2 else auth("doctor", doctor["id"]))
        for n in range(10)))
    assert sorted(r.status for r in responses) == [200] * 9 + [201]
    assert len({(await r.json())["id"] for r in responses}) == 1
    assert len(await _rows(db, call_sessions)) == 1


async def test_call_session_refusals(client, db, auth, pair):
    patient, doctor, session = pair
    p = auth("client", patient["id"])
    url = "/api/v2/connect/call-sessions"
    assert (await client.post(url, json={"connect_session_id": str(session["id"]), "call_type": "FAX"},
                              headers=p)).status == 422
    assert (await client.post(url, json={}, headers=p)).status == 422
    stranger = await factories.make_user(db)
    assert (await client.post(url, json={"connect_session_id": str(session["id"])},
                              headers=auth("client", stranger["id"]))).status == 404
    requested = await factories.make_session(db, stranger["id"], doctor["id"], status="REQUESTED")
    resp = await client.post(url, json={"connect_session_id": str(requested["id"])},
                             headers=auth("client", stranger["id"]))
    assert resp.status == 409 and (await resp.json())["code"] == "SESSION_NOT_ONGOING"
    assert await _rows(db, call_sessions) == []
