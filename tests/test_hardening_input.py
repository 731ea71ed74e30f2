"""Input PostgreSQL cannot store is 422 with a `loc`, never 500: NUL (and unpaired surrogates) in any
string of a body, a query, a path parameter or a websocket frame; integers beyond the columns."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from schemas.common import INT_MAX
from storage.tables import users
from tests import factories

NUL = "a\u0000b"
ME = "/api/v2/users/me"


async def _unprocessable(resp, loc: list) -> dict:
    assert resp.status == 422, (resp.status, await resp.text())
    body = await resp.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert loc in [item["loc"] for item in body["detail"]], body
    return body


@pytest.fixture
async def parties(db):
    patient, doctor, session = await factories.make_participants(db)
    return patient, doctor, session


async def test_nul_in_bodies_is_422_on_its_field(client, db, auth, parties):
    patient, doctor, session = parties
    as_patient, as_doctor = auth("client", patient["id"]), auth("doctor", doctor["id"])
    sid = session["id"]
    body = await _unprocessable(await client.patch(ME, json={"full_name": NUL}, headers=as_patient),
                                ["body", "full_name"])
    assert body["detail"][0]["type"] == "string_unicode"
    async with db.connect() as conn:  # nothing written
        assert (await conn.execute(sa.select(users.c.full_name).where(users.c.id == patient["id"]))).scalar_one() \
            == patient["full_name"]
    message = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": f"hello {NUL}"}
    await _unprocessable(await client.post(f"/api/v2/connect/sessions/{sid}/messages", json=message,
                                           headers=as_patient), ["body", "content"])
    await _unprocessable(await client.post("/api/v2/auth/doctor/login",
                                           json={"email": doctor["email"], "password": NUL}), ["body", "password"])
    await _unprocessable(await client.post("/api/v2/admin/auth/login", json={"username": NUL, "password": "x"}),
                         ["body", "username"])
    await _unprocessable(await client.post("/api/v2/devices/tokens", json={"token": NUL, "platform": "android"},
                                           headers=as_patient), ["body", "token"])
    prescription = {"medications": [{"name": "Paracetamol", "dosage": "500 mg"},
                                    {"name": "Cetirizine", "dosage": f"10 mg{NUL}"}]}
    await _unprocessable(await client.post(f"/api/v2/connect/sessions/{sid}/prescription", json=prescription,
                                           headers=as_doctor), ["body", "medications", 1, "dosage"])
    await _unprocessable(await client.post(f"/api/v2/connect/sessions/{sid}/end", json={"reason": NUL},
                                           headers=as_doctor), ["body", "reason"])
    # A field the schema does not know is ignored, NUL or not.
    resp = await client.patch(ME, json={"full_name": "Asha", "nickname": NUL}, headers=as_patient)
    assert resp.status == 200 and (await resp.json())["full_name"] == "Asha"


async def test_unpaired_surrogate_is_422(client, db, auth):
    """json.loads (the INR body parser) lets a lone surrogate through; it has no UTF-8 form."""
    admin = await factories.make_admin(db)
    offer = {"title": "Diwali \ud800", "amount": 100, "valid_from": "2030-01-01", "valid_until": "2030-01-31"}
    raw = '{"title": "Diwali \\ud800", "amount": 100, "valid_from": "2030-01-01", "valid_until": "2030-01-31"}'
    assert offer["title"].endswith("\ud800")
    resp = await client.post("/api/v2/admin/wallet-offers", data=raw, headers={
        **auth("admin", admin["id"]), "Content-Type": "application/json"})
    await _unprocessable(resp, ["body", "title"])


async def test_nul_in_queries_and_paths(client, db, auth, parties):
    patient, *_ = parties
    as_patient = auth("client", patient["id"])
    await _unprocessable(await client.get("/api/v2/doctors/search", params={"q": f"ra{NUL}"}, headers=as_patient),
                         ["query", "q"])
    await _unprocessable(await client.get("/api/v2/medicines/search", params={"q": f"para{NUL}"},
                                          headers=as_patient), ["query", "q"])
    await _unprocessable(await client.get("/api/v2/doctors/slug/%00"), ["path", "slug"])
    await _unprocessable(await client.get("/api/v2/doctors/slug/dr-%00-rao"), ["path", "slug"])
    assert (await client.get("/api/v2/doctors/slug/no-such-doctor")).status == 404


async def test_nul_in_a_websocket_frame_is_an_error_frame(client, db, auth, parties):
    patient, _, session = parties
    ws = await client.ws_connect(f"/api/v2/connect/sessions/{session['id']}/ws", headers=auth("client", patient["id"]))
    try:
        await ws.send_json({"type": "message.send", "id": "m1", "data": {
            "client_message_id": str(uuid.uuid4()), "content_type": "text", "content": NUL}})
        while True:
            frame = await ws.receive_json(timeout=10)
            if frame["type"] == "error":
                break
        assert frame["data"]["ref"] == "m1" and frame["data"]["status"] == 422
        assert frame["data"]["code"] == "VALIDATION_ERROR"
        assert frame["data"]["detail"][0]["loc"] == ["data", "content"]
        # The socket stays usable.
        await ws.send_json({"type": "ping", "id": "p1"})
        while (frame := await ws.receive_json(timeout=10))["type"] != "pong":
            pass
    finally:
        await ws.close()


async def test_numbers_beyond_the_database_are_422(client, db, auth, parties):
    patient, doctor, _ = parties
    as_patient = auth("client", patient["id"])
    await factories.make_wallet(db, patient["id"], 10_000)
    huge = "100000000000000000000"
    await _unprocessable(await client.get("/api/v2/wallet/transactions", params={"offset": huge}, headers=as_patient),
                         ["query", "offset"])
    await _unprocessable(await client.get("/api/v2/doctors/", params={"skip": huge}), ["query", "skip"])
    await _unprocessable(await client.get("/api/v2/doctors/", params={"skip": "1e20"}), ["query", "skip"])
    await _unprocessable(await client.get("/api/v2/doctors/", params={"limit": "9" * 30}), ["query", "limit"])
    await _unprocessable(await client.get("/api/v2/wallet/transactions", params={"offset": str(INT_MAX + 1)},
                                          headers=as_patient), ["query", "offset"])
    ok = await client.get("/api/v2/wallet/transactions", params={"offset": str(INT_MAX)}, headers=as_patient)
    assert ok.status == 200 and (await ok.json())["items"] == []
    # In bodies: an integer field without bounds of its own gets the column's.
    await _unprocessable(await client.post("/api/v2/connect/sessions", headers=as_patient, json={
        "target_doctor_id": str(doctor["id"]), "rate_per_minute": 10 ** 20}), ["body", "rate_per_minute"])
    await _unprocessable(await client.patch(ME, json={"age": 10 ** 30}, headers=as_patient), ["body", "age"])
