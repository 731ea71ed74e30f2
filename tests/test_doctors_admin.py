"""Admin: create doctors (unique slugs, duplicate emails) and update them."""
from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa

from common.passwords import verify_password
from storage.tables import doctors
from tests.factories import make_admin, make_doctor, make_user

API = "/api/v2/doctors"


def _body(**overrides):
    body = {"full_name": "Dr. Ankit Shah", "email": "Ankit.Shah@Example.com", "password": "s3cret-pass",
            "speciality_category": "Urology", "rate_per_minute": 500, "degrees": ["MBBS", "MS"],
            "languages": ["English", "Hindi"], "years_experience": 12, "about_short": "Specialist in...",
            "registration_number": "MCI12345", "is_featured": True}
    body.update(overrides)
    return body


async def _doctor_row(db, doctor_id):
    async with db.connect() as conn:
        return (await conn.execute(sa.select(doctors).where(doctors.c.id == doctor_id))).mappings().one()


async def test_create_doctor(client, db, auth):
    admin = await make_admin(db)
    resp = await client.post(f"{API}/", json=_body(), headers=auth("admin", admin["id"]))
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["slug"] == "dr-ankit-shah-urology"
    assert body["email"] == "ankit.shah@example.com"
    for key, value in {"full_name": "Dr. Ankit Shah", "speciality_category": "Urology", "rate_per_minute": 500,
                       "degrees": ["MBBS", "MS"], "languages": ["English", "Hindi"], "years_experience": 12,
                       "about_short": "Specialist in...", "registration_number": "MCI12345", "is_featured": True,
                       "is_active": True, "presence_status": "OFFLINE", "rating": 0.0, "total_reviews": 0,
                       "total_sessions": 0}.items():
        assert body[key] == value, key
    assert "password" not in body and "password_hash" not in body
    row = await _doctor_row(db, uuid.UUID(body["id"]))
    assert row["password_hash"] != "s3cret-pass"
    assert await verify_password(row["password_hash"], "s3cret-pass")
    # Publicly visible at once.
    assert (await client.get(f"{API}/slug/dr-ankit-shah-urology")).status == 200


async def test_create_normalises_allowed_values_and_minimal_body(client, db, auth):
    admin = await make_admin(db)
    resp = await client.post(f"{API}", headers=auth("admin", admin["id"]), json={
        "full_name": "  Dr. Priya Menon ", "email": "priya@example.com", "password": "password1",
        "speciality_category": "dermatology", "rate_per_minute": 0, "languages": ["hindi", "Hindi"]})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["full_name"] == "Dr. Priya Menon" and body["speciality_category"] == "Dermatology"
    assert body["languages"] == ["Hindi"] and body["degrees"] == [] and body["slug"] == "dr-priya-menon-dermatology"


async def test_slug_suffixes_on_clash(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    slugs = []
    for i in range(3):
        resp = await client.post(f"{API}/", json=_body(email=f"ankit{i}@example.com"), headers=headers)
        assert resp.status == 201
        slugs.append((await resp.json())["slug"])
    assert slugs == ["dr-ankit-shah-urology", "dr-ankit-shah-urology-2", "dr-ankit-shah-urology-3"]
    other = await client.post(f"{API}/", json=_body(email="x@example.com", full_name="Dr. Ankit Shah!",
                                                    speciality_category="ENT"), headers=headers)
    assert (await other.json())["slug"] == "dr-ankit-shah-ent"


async def test_concurrent_creates_get_distinct_slugs(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    responses = await asyncio.gather(*[
        client.post(f"{API}/", json=_body(email=f"same{i}@example.com"), headers=headers) for i in range(6)])
    assert [r.status for r in responses] == [201] * 6
    slugs = {(await r.json())["slug"] for r in responses}
    assert slugs == {"dr-ankit-shah-urology"} | {f"dr-ankit-shah-urology-{n}" for n in range(2, 7)}


async def test_duplicate_email_is_409(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    await make_doctor(db, email="taken@example.com")
    resp = await client.post(f"{API}/", json=_body(email="TAKEN@example.com"), headers=headers)
    assert resp.status == 409
    assert (await resp.json())["code"] == "EMAIL_ALREADY_REGISTERED"
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(doctors)) == 1


async def test_create_validation(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    cases = {
        "full_name": ["D", "x" * 101, "   "], "email": ["not-an-email"], "password": ["short"],
        "speciality_category": ["Astrology", ""], "rate_per_minute": [-1, "five", 100_001],
        "degrees": [[], [""]], "languages": [["Klingon"], []], "years_experience": [-1, 61],
        "about_short": ["x" * 601], "registration_number": ["12345"],
    }
    for field, values in cases.items():
        for value in values:
            resp = await client.post(f"{API}/", json=_body(**{field: value}), headers=headers)
            assert resp.status == 422, (field, value)
            assert (await resp.json())["detail"][0]["loc"][:2] == ["body", field], (field, value)
    for field in ("full_name", "email", "password", "speciality_category", "rate_per_minute"):
        body = _body()
        del body[field]
        assert (await client.post(f"{API}/", json=body, headers=headers)).status == 422, field
    resp = await client.post(f"{API}/", data=b"{not json", headers={**headers, "Content-Type": "application/json"})
    assert resp.status == 422


async def test_admin_endpoints_need_admin(client, db, auth):
    doctor = await make_doctor(db)
    user = await make_user(db)
    assert (await client.post(f"{API}/", json=_body())).status == 401
    assert (await client.patch(f"{API}/{doctor['id']}", json={"is_featured": True})).status == 401
    for role, who in (("client", user), ("doctor", doctor)):
        resp = await client.post(f"{API}/", json=_body(), headers=auth(role, who["id"]))
        assert resp.status == 403
        resp = await client.patch(f"{API}/{doctor['id']}", json={"is_featured": True}, headers=auth(role, who["id"]))
        assert resp.status == 403


async def test_update_doctor(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    doctor = await make_doctor(db, full_name="Dr. Old Name", slug="dr-old-name")
    resp = await client.patch(f"{API}/{doctor['id']}", headers=headers, json={
        "is_featured": True, "rate_per_minute": 900, "full_name": "Dr. New Name", "password": "new-password-1",
        "languages": ["tamil"], "speciality_category": "Cardiology"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["is_featured"] is True and body["rate_per_minute"] == 900 and body["full_name"] == "Dr. New Name"
    assert body["languages"] == ["Tamil"] and body["speciality_category"] == "Cardiology"
    assert body["slug"] == "dr-old-name"  # shared links keep working
    row = await _doctor_row(db, doctor["id"])
    assert await verify_password(row["password_hash"], "new-password-1")

    unchanged = await client.patch(f"{API}/{doctor['id']}", headers=headers, json={})
    assert unchanged.status == 200 and (await unchanged.json())["rate_per_minute"] == 900


async def test_deactivating_hides_the_doctor_and_takes_them_offline(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    doctor = await make_doctor(db, presence_status="ONLINE")
    resp = await client.patch(f"{API}/{doctor['id']}", headers=headers, json={"is_active": False})
    assert resp.status == 200
    body = await resp.json()
    assert body["is_active"] is False and body["presence_status"] == "OFFLINE"
    assert (await client.get(f"{API}/{doctor['id']}")).status == 404
    assert await (await client.get(f"{API}/")).json() == []
    seen_by_admin = await client.get(f"{API}/{doctor['id']}", headers=headers)
    assert seen_by_admin.status == 200 and (await seen_by_admin.json())["is_active"] is False
    # The doctor's own token stops working.
    assert (await client.get(f"{API}/me/profile", headers=auth("doctor", doctor["id"]))).status == 401
    # Reactivation by the admin still works on the hidden doctor.
    resp = await client.patch(f"{API}/{doctor['id']}", headers=headers, json={"is_active": True})
    assert resp.status == 200 and (await client.get(f"{API}/{doctor['id']}")).status == 200


async def test_update_errors(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    doctor = await make_doctor(db)
    await make_doctor(db, email="other@example.com")
    resp = await client.patch(f"{API}/{doctor['id']}", headers=headers, json={"email": "Other@example.com"})
    assert resp.status == 409
    assert (await client.patch(f"{API}/{uuid.uuid4()}", headers=headers, json={"is_featured": True})).status == 404
    for body in ({"rate_per_minute": -5}, {"is_active": "sometimes"}, {"years_experience": 99},
                 {"degrees": []}, {"password": "short"}, {"speciality_category": "Magic"}):
        assert (await client.patch(f"{API}/{doctor['id']}", headers=headers, json=body)).status == 422, body
