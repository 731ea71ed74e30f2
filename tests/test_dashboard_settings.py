"""Doctor settings: presence (BUSY is server-only), availability switches, own profile constraints."""
from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa

from storage.tables import connect_sessions, doctors
from tests.factories import make_doctor, make_user

API = "/api/v2/doctors/me"


async def _presence(db, doctor_id):
    async with db.connect() as conn:
        return await conn.scalar(sa.select(doctors.c.presence_status).where(doctors.c.id == doctor_id))


async def _ongoing_session(db, doctor):
    patient = await make_user(db)
    session_id = uuid.uuid4()
    async with db.begin() as conn:
        await conn.execute(sa.insert(connect_sessions).values(
            id=session_id, patient_id=patient["id"], doctor_id=doctor["id"], status="ONGOING", rate_per_minute=500,
            room_name=f"cn-{session_id}", expires_at=sa.func.now(), started_at=sa.func.now()))


async def test_online_and_presence_switch(client, db, auth):
    doctor = await make_doctor(db, presence_status="OFFLINE")
    headers = auth("doctor", doctor["id"])
    resp = await client.put(f"{API}/online", json={"online": True}, headers=headers)
    assert resp.status == 200
    assert await resp.json() == {"is_online": True, "presence_status": "ONLINE", "chat_enabled": True,
                                 "call_enabled": True}
    assert await _presence(db, doctor["id"]) == "ONLINE"
    resp = await client.put(f"{API}/presence", json={"presence_status": "offline"}, headers=headers)
    assert resp.status == 200 and (await resp.json())["is_online"] is False
    assert await _presence(db, doctor["id"]) == "OFFLINE"
    resp = await client.put(f"{API}/presence", json={"presence_status": "online"}, headers=headers)
    assert (await resp.json())["presence_status"] == "ONLINE"
    resp = await client.put(f"{API}/online", json={"online": False}, headers=headers)
    assert (await resp.json())["presence_status"] == "OFFLINE"


async def test_busy_is_server_only(client, db, auth):
    doctor = await make_doctor(db, presence_status="BUSY")
    headers = auth("doctor", doctor["id"])
    for body in ({"presence_status": "busy"}, {"presence_status": "BUSY"}, {"presence_status": "away"}, {}):
        resp = await client.put(f"{API}/presence", json=body, headers=headers)
        assert resp.status == 422, body
        assert (await resp.json())["detail"][0]["loc"] == ["body", "presence_status"]
    # Asking for online while BUSY keeps BUSY...
    resp = await client.put(f"{API}/presence", json={"presence_status": "online"}, headers=headers)
    assert resp.status == 200 and (await resp.json())["presence_status"] == "BUSY"
    resp = await client.put(f"{API}/online", json={"online": True}, headers=headers)
    assert (await resp.json()) == {"is_online": True, "presence_status": "BUSY", "chat_enabled": True,
                                   "call_enabled": True}
    assert await _presence(db, doctor["id"]) == "BUSY"
    # ...going offline while BUSY is allowed.
    resp = await client.put(f"{API}/presence", json={"presence_status": "offline"}, headers=headers)
    assert (await resp.json())["presence_status"] == "OFFLINE"
    assert await _presence(db, doctor["id"]) == "OFFLINE"


async def test_coming_back_online_during_a_consultation_is_busy(client, db, auth):
    doctor = await make_doctor(db, presence_status="OFFLINE")
    await _ongoing_session(db, doctor)
    resp = await client.put(f"{API}/online", json={"online": True}, headers=auth("doctor", doctor["id"]))
    assert (await resp.json())["presence_status"] == "BUSY"


async def test_presence_validation_and_roles(client, db, auth):
    doctor = await make_doctor(db, presence_status="OFFLINE")
    user = await make_user(db)
    headers = auth("doctor", doctor["id"])
    for body in ({}, {"online": "maybe"}, {"online": None}):
        assert (await client.put(f"{API}/online", json=body, headers=headers)).status == 422, body
    assert (await client.put(f"{API}/online", json={"online": True})).status == 401
    assert (await client.put(f"{API}/online", json={"online": True}, headers=auth("client", user["id"]))).status == 403
    assert (await client.put(f"{API}/presence", json={"presence_status": "online"},
                             headers=auth("client", user["id"]))).status == 403
    assert await _presence(db, doctor["id"]) == "OFFLINE"  # no refused request brought it online


async def test_concurrent_presence_changes_end_in_one_of_the_requested_states(client, db, auth):
    doctor = await make_doctor(db, presence_status="OFFLINE")
    headers = auth("doctor", doctor["id"])
    wanted = [i % 2 == 0 for i in range(10)]
    responses = await asyncio.gather(*[client.put(f"{API}/online", json={"online": w}, headers=headers) for w in wanted])

    def state(online: bool) -> dict:
        return {"is_online": online, "presence_status": "ONLINE" if online else "OFFLINE",
                "chat_enabled": True, "call_enabled": True}

    # Each change is applied under the row lock and answers with the state it left.
    assert [r.status for r in responses] == [200] * 10
    assert [await r.json() for r in responses] == [state(w) for w in wanted]
    # The row holds the last one applied: one of the two, whole (the order is the race's).
    final = await (await client.get(f"{API}/overview", headers=headers)).json()
    assert final["availability"] in (state(True), state(False))
    assert await _presence(db, doctor["id"]) == final["availability"]["presence_status"]


async def test_availability_switches(client, db, auth):
    doctor = await make_doctor(db)
    headers = auth("doctor", doctor["id"])
    resp = await client.patch(f"{API}/availability", json={"chat_enabled": False}, headers=headers)
    assert resp.status == 200
    assert await resp.json() == {"is_online": True, "presence_status": "ONLINE", "chat_enabled": False,
                                 "call_enabled": True}
    listed = await (await client.get("/api/v2/doctors/all_doctors_list", params={"available_for": "chat"})).json()
    assert listed == []
    resp = await client.patch(f"{API}/availability", json={"call_enabled": False, "chat_enabled": True},
                              headers=headers)
    assert (await resp.json())["chat_enabled"] is True and (await resp.json())["call_enabled"] is False
    resp = await client.patch(f"{API}/availability", json={}, headers=headers)
    assert resp.status == 200 and (await resp.json())["call_enabled"] is False
    resp = await client.patch(f"{API}/availability", json={"chat_enabled": "nope"}, headers=headers)
    assert resp.status == 422
    overview = await (await client.get(f"{API}/overview", headers=headers)).json()
    assert overview["availability"] == {"is_online": True, "presence_status": "ONLINE", "chat_enabled": True,
                                        "call_enabled": False}


async def test_profile_get_and_patch(client, db, auth):
    doctor = await make_doctor(db, full_name="Dr. Ankit Shah", email="ankit@example.com")
    headers = auth("doctor", doctor["id"])
    resp = await client.get(f"{API}/profile", headers=headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["id"] == str(doctor["id"]) and body["email"] == "ankit@example.com"
    assert body["chat_enabled"] is True and "password_hash" not in body
    resp = await client.patch(f"{API}/profile", headers=headers, json={
        "full_name": "Dr. Ankit R. Shah", "years_experience": 13, "about_short": "x" * 600,
        "degrees": ["MBBS", "MS", "MBBS"], "speciality_category": "urology", "languages": ["english", "Gujarati"],
        "registration_number": "MCI12345", "rate_per_minute": 1, "is_featured": True, "email": "evil@example.com"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["full_name"] == "Dr. Ankit R. Shah" and body["years_experience"] == 13
    assert body["degrees"] == ["MBBS", "MS"] and body["speciality_category"] == "Urology"
    assert body["languages"] == ["English", "Gujarati"] and body["registration_number"] == "MCI12345"
    # Price, featuring and login email are the admin's, not the doctor's.
    assert body["rate_per_minute"] == 500 and body["is_featured"] is False and body["email"] == "ankit@example.com"
    again = await (await client.get(f"{API}/profile", headers=headers)).json()
    assert again == body
    resp = await client.patch(f"{API}/profile", headers=headers, json={"about_short": None})
    assert resp.status == 200 and (await resp.json())["about_short"] is None
    assert (await client.patch(f"{API}/profile", headers=headers)).status == 200


async def test_profile_constraints(client, db, auth):
    doctor = await make_doctor(db)
    headers = auth("doctor", doctor["id"])
    before = await (await client.get(f"{API}/profile", headers=headers)).json()
    cases = {
        "full_name": ["D", "x" * 101, "  ", None, 42], "years_experience": [-1, 61, "ten", 2.5],
        "about_short": ["x" * 601], "degrees": [[], [""], "MBBS", None],
        "speciality_category": ["Astrology", ""], "languages": [["Klingon"], [], ["English", "Elvish"]],
        "registration_number": ["12345", "     1", ""],
    }
    for field, values in cases.items():
        for value in values:
            resp = await client.patch(f"{API}/profile", headers=headers, json={field: value})
            assert resp.status == 422, (field, value)
            assert (await resp.json())["detail"][0]["loc"][:2] == ["body", field], (field, value)
    assert await (await client.get(f"{API}/profile", headers=headers)).json() == before  # nothing applied
    for field, value in (("full_name", "Dr"), ("full_name", "x" * 100), ("years_experience", 0),
                         ("years_experience", 60), ("registration_number", "123456")):
        assert (await client.patch(f"{API}/profile", headers=headers, json={field: value})).status == 200
    resp = await client.patch(f"{API}/profile", headers={**headers, "Content-Type": "application/json"},
                              data=b"[1, 2]")
    assert resp.status == 422
