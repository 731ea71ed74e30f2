"""Prescriptions and lab-test recommendations: who writes, who reads, in which session states."""
from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from storage.tables import lab_test_recommendations, notifications, prescriptions
from tests.azurite import session_parties

RX = {"medications": [{"name": "Amoxicillin 500mg", "dosage": "1 tablet 3x daily", "duration": "7 days",
                       "instructions": "Take after meals"}],
      "notes": "Complete the full course"}
LABS = {"recommendations": [{"test_name": "CBC", "priority": "routine", "instructions": "Fasting 8hrs"},
                            {"test_name": "HbA1c", "priority": "urgent"}],
        "notes": "Get done within 1 week"}


# What a refused write would have changed: the table, its push, and a body unlike the stored one.
STORED = {"prescription": (prescriptions, "prescription.ready",
                           {"medications": [{"name": "Placebo", "dosage": "1 tablet"}]}),
          "lab-tests": (lab_test_recommendations, "labtests.recommended",
                        {"recommendations": [{"test_name": "TSH", "priority": "routine"}]})}


async def _rows(db, table):
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(table).order_by(table.c.id))).mappings().all()]


async def _pushes(db, event_type: str):
    async with db.connect() as conn:
        return (await conn.execute(sa.select(notifications).where(notifications.c.event_type == event_type)
                                   .order_by(notifications.c.created_at))).mappings().all()


@pytest.mark.parametrize("status", ["ONGOING", "ENDED"])
async def test_prescription_create_read_replace(client, db, auth, status):
    patient, doctor, session, *_ = await session_parties(db, status=status)
    path = f"/api/v2/connect/sessions/{session['id']}/prescription"
    d, p = auth("doctor", doctor["id"]), auth("client", patient["id"])
    assert (await client.get(path, headers=p)).status == 404
    resp = await client.post(path, json=RX, headers=d)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["medications"] == RX["medications"] and created["notes"] == RX["notes"]
    assert created["connect_session_id"] == str(session["id"]) and created["version"] == 1
    assert created["doctor_id"] == str(doctor["id"]) and created["patient_id"] == str(patient["id"])
    assert (await (await client.get(path, headers=p)).json())["id"] == created["id"]
    resp = await client.post(path, json=RX, headers=d)
    assert resp.status == 409 and (await resp.json())["code"] == "PRESCRIPTION_EXISTS"

    replacement = {"medications": [{"name": "Azithromycin 500mg", "dosage": "1 tablet daily", "duration": "",
                                    "instructions": None}]}
    resp = await client.put(path, json=replacement, headers=d)
    assert resp.status == 200
    replaced = await resp.json()
    assert replaced["version"] == 2 and replaced["notes"] is None
    assert replaced["medications"] == [{"name": "Azithromycin 500mg", "dosage": "1 tablet daily",
                                        "duration": None, "instructions": None}]
    pushes = await _pushes(db, "prescription.ready")
    assert [(x["recipient_role"], x["recipient_id"]) for x in pushes] == [("client", patient["id"])] * 2
    assert pushes[0]["data"]["session_id"] == str(session["id"])


async def test_lab_tests_create_read_replace(client, db, auth):
    patient, doctor, session, *_ = await session_parties(db)
    path = f"/api/v2/connect/sessions/{session['id']}/lab-tests"
    d, p = auth("doctor", doctor["id"]), auth("client", patient["id"])
    resp = await client.post(path, json=LABS, headers=d)
    assert resp.status == 201
    created = await resp.json()
    assert created["recommendations"] == [
        {"test_name": "CBC", "priority": "routine", "instructions": "Fasting 8hrs"},
        {"test_name": "HbA1c", "priority": "urgent", "instructions": None}]
    assert (await client.post(path, json=LABS, headers=d)).status == 409
    got = await (await client.get(path, headers=p)).json()
    assert got["id"] == created["id"] and got["notes"] == "Get done within 1 week"
    resp = await client.put(path, json={"recommendations": [{"test_name": "TSH", "priority": "routine"}]}, headers=d)
    assert resp.status == 200 and [r["test_name"] for r in (await resp.json())["recommendations"]] == ["TSH"]
    pushes = await _pushes(db, "labtests.recommended")
    assert [(x["recipient_role"], x["recipient_id"]) for x in pushes] == [("client", patient["id"])] * 2


@pytest.mark.parametrize("path, body, loc", [
    ("prescription", {"medications": []}, ["body", "medications"]),
    ("prescription", {}, ["body", "medications"]),
    ("prescription", {"medications": [{"name": "X"}]}, ["body", "medications", 0, "dosage"]),
    ("prescription", {"medications": [{"name": " ", "dosage": "1"}]}, ["body", "medications", 0, "name"]),
    ("lab-tests", {"recommendations": []}, ["body", "recommendations"]),
    ("lab-tests", {"recommendations": [{"test_name": "CBC", "priority": "asap"}]},
     ["body", "recommendations", 0, "priority"]),
    ("lab-tests", {"recommendations": [{"test_name": "CBC"}]}, ["body", "recommendations", 0, "priority"]),
])
async def test_bodies_are_validated(client, db, auth, path, body, loc):
    _, doctor, session, *_ = await session_parties(db)
    resp = await client.post(f"/api/v2/connect/sessions/{session['id']}/{path}", json=body,
                             headers=auth("doctor", doctor["id"]))
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == loc
    table, push, _ = STORED[path]
    assert await _rows(db, table) == [] and await _pushes(db, push) == []


@pytest.mark.parametrize("path, body", [("prescription", RX), ("lab-tests", LABS)])
async def test_who_may_write_and_when(client, db, auth, path, body):
    table, push, other_body = STORED[path]
    patient, doctor, session, stranger, other_doctor = await session_parties(db, status="REQUESTED")
    url = f"/api/v2/connect/sessions/{session['id']}/{path}"
    resp = await client.post(url, json=body, headers=auth("doctor", doctor["id"]))
    assert resp.status == 409 and (await resp.json())["code"] == "INVALID_SESSION_STATE"
    _, doctor2, ongoing, *_ = await session_parties(db)
    url = f"/api/v2/connect/sessions/{ongoing['id']}/{path}"
    assert (await client.post(url, json=body, headers=auth("client", ongoing["patient_id"]))).status == 403
    assert (await client.post(url, json=body, headers=auth("doctor", other_doctor["id"]))).status == 404
    assert (await client.put(url, json=body, headers=auth("doctor", doctor2["id"]))).status == 404  # nothing yet
    assert await _rows(db, table) == [] and await _pushes(db, push) == []  # every refusal wrote nothing
    assert (await client.post(url, json=body, headers=auth("doctor", doctor2["id"]))).status == 201
    [stored] = await _rows(db, table)
    assert stored["version"] == 1 and stored["doctor_id"] == doctor2["id"]
    assert (await client.put(url, json=other_body, headers=auth("client", ongoing["patient_id"]))).status == 403
    assert (await client.get(url, headers=auth("client", stranger["id"]))).status == 404
    assert (await client.get(url, headers=auth("doctor", other_doctor["id"]))).status == 404
    assert (await client.put(url, json=other_body, headers=auth("doctor", other_doctor["id"]))).status == 404
    assert (await client.get(url)).status == 401
    assert await _rows(db, table) == [stored]  # the foreign replacements changed nothing
    assert len(await _pushes(db, push)) == 1


async def test_concurrent_creates_make_one_prescription(client, db, auth):
    _, doctor, session, *_ = await session_parties(db)
    path = f"/api/v2/connect/sessions/{session['id']}/prescription"
    responses = await asyncio.gather(*(client.post(path, json=RX, headers=auth("doctor", doctor["id"]))
                                       for _ in range(5)))
    assert sorted(r.status for r in responses) == [201, 409, 409, 409, 409]
    async with db.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(prescriptions))).scalar_one() == 1
    assert len(await _pushes(db, "prescription.ready")) == 1
