"""The admin console's accounts (/admin/users): patients and doctors found by name, email or phone
digits, read and edited under the account's own rules, switched off (every login ends) and on
again (a new login works, the old tokens stay dead). Every call leaves its audit row."""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from storage.tables import auth_revocations, doctors
from tests import factories
from tests.audit_rows import audit_rows

ADMIN_USERS = "/api/v2/admin/users"
TEST_PHONE, TEST_CODE = "+919999999999", "123456"  # conftest's OTP_TEST_NUMBERS
T0 = dt.datetime(2025, 8, 15, 10, 30, tzinfo=dt.timezone.utc)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _admin(db, auth):
    admin = await factories.make_admin(db)
    return admin, auth("admin", admin["id"])


async def _page(client, headers, **query) -> dict:
    resp = await client.get(ADMIN_USERS, params={k: str(v) for k, v in query.items()}, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _ids(client, headers, **query) -> list[str]:
    return [item["id"] for item in (await _page(client, headers, **query))["items"]]


async def _accounts(db):
    rahul = await factories.make_user(db, full_name="Rahul Sharma", phone="+919812345678", email="rahul@example.com",
                                      created_at=T0)
    priya = await factories.make_user(db, full_name="Priya Nair", phone="+918090839108", is_active=False,
                                      created_at=T0 + dt.timedelta(days=1))
    asha = await factories.make_doctor(db, full_name="Dr. Asha Rao", email="asha@allign.test",
                                       created_at=T0 + dt.timedelta(days=2))
    return str(rahul["id"]), str(priya["id"]), str(asha["id"])


async def test_list_is_newest_first_paginated_and_filtered(client, db, auth):
    admin, headers = await _admin(db, auth)
    rahul, priya, asha = await _accounts(db)

    first = await _page(client, headers, limit=2)
    assert [i["id"] for i in first["items"]] == [asha, priya]
    assert (first["total"], first["limit"], first["offset"], first["has_more"]) == (3, 2, 0, True)
    last = await _page(client, headers, limit=2, offset=2)
    assert [i["id"] for i in last["items"]] == [rahul] and last["has_more"] is False
    assert first["items"][0] == {"id": asha, "role": "doctor", "full_name": "Dr. Asha Rao", "email": "asha@allign.test",
                                 "phone": None, "is_active": True, "created_at": "2025-08-17T10:30:00Z"}
    assert last["items"][0]["phone"] == "+919812345678" and last["items"][0]["role"] == "client"

    assert await _ids(client, headers, role="client") == [priya, rahul]
    assert await _ids(client, headers, role="doctor") == [asha]
    assert await _ids(client, headers, is_active="false") == [priya]
    assert await _ids(client, headers, role="client", is_active="true") == [rahul]
    for bad in ({"role": "admin"}, {"role": "nurse"}, {"is_active": "maybe"}, {"q": " "}, {"limit": 0}):
        resp = await client.get(ADMIN_USERS, params=bad, headers=headers)
        assert resp.status == 422, bad
        assert (await resp.json())["detail"][0]["loc"][0] == "query"

    # One audit row per list call (it shows names and phones), the filters never in it.
    rows = await audit_rows(db, action="user.list")
    assert len(rows) == 6 and {r["actor_id"] for r in rows} == {admin["id"]}
    assert all(r["target_type"] == "user" and r["target_id"] is None and r["changed_fields"] == [] for r in rows)


async def test_q_finds_name_email_or_phone_digits_in_any_format(client, db, auth):
    _, headers = await _admin(db, auth)
    rahul, priya, asha = await _accounts(db)
    cases = {
        "98123": [rahul], "+91 98123-45678": [rahul], "(981) 234": [rahul], "919812345678": [rahul],
        "8090": [priya], "rahul": [rahul], "SHARMA": [rahul], "EXAMPLE.com": [rahul], "asha": [asha],
        "allign.test": [asha], "Nair": [priya],
        "12": [],          # too few digits to be a phone search, and nobody's name or email
        "Rahul 98": [],    # not a phone: name/email only
        "%": [], "_": [],  # wildcards are taken literally
    }
    for q, expected in cases.items():
        assert await _ids(client, headers, q=q) == expected, q
    assert await _ids(client, headers, q="a", role="doctor") == [asha]


async def test_detail_shows_the_account_as_its_owner_sees_it_and_is_audited(client, db, auth):
    admin, headers = await _admin(db, auth)
    rahul, _, asha = await _accounts(db)
    resp = await client.get(f"{ADMIN_USERS}/{rahul}", headers={**headers, "X-Request-ID": "req-detail-1"})
    assert resp.status == 200
    body = await resp.json()
    assert body["role"] == "client" and body["is_active"] is True and body["phone"] == "+919812345678"
    for key in ("full_name", "email", "avatar_url", "member_since", "profile_completed", "profile_completion",
                "age", "sex", "height_cm", "weight_kg", "bmi", "created_at", "updated_at"):
        assert key in body, key
    [row] = await audit_rows(db, action="user.read")
    assert row["actor_id"] == admin["id"] and row["actor_role"] == "admin"
    assert (row["target_type"], row["target_id"], row["request_id"]) == ("user", rahul, "req-detail-1")
    assert str(row["ip"]) == "127.0.0.1" and row["changed_fields"] == [] and row["created_at"] is not None

    resp = await client.get(f"{ADMIN_USERS}/{asha}", headers=headers)
    body = await resp.json()
    assert resp.status == 200 and body["role"] == "doctor" and body["email"] == "asha@allign.test"
    assert [r["target_type"] for r in await audit_rows(db, action="user.read")] == ["user", "doctor"]

    for missing in (uuid.uuid4(), admin["id"]):  # admins are not managed here
        resp = await client.get(f"{ADMIN_USERS}/{missing}", headers=headers)
        assert resp.status == 404 and (await resp.json())["code"] == "USER_NOT_FOUND"
    assert len(await audit_rows(db, action="user.read")) == 2  # a failed read records nothing
    assert (await client.get(f"{ADMIN_USERS}/not-a-uuid", headers=headers)).status == 404


async def test_patch_follows_the_accounts_own_rules_and_records_field_names_only(client, db, auth):
    _, headers = await _admin(db, auth)
    rahul, _, asha = await _accounts(db)
    resp = await client.patch(f"{ADMIN_USERS}/{rahul}", headers=headers,
                              json={"full_name": " Updated Name ", "age": 30, "unknown": 1})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["full_name"], body["age"], body["role"]) == ("Updated Name", 30, "client")
    [row] = await audit_rows(db, action="user.update")
    assert (row["target_type"], row["target_id"], row["changed_fields"]) == ("user", rahul, ["age", "full_name"])
    assert "Updated Name" not in repr(row)  # names, never values

    # The patient's own limits: age 1–150, sex from the list; nothing changes, nothing is recorded.
    for bad, field in (({"age": 0}, "age"), ({"sex": "robot"}, "sex"), ({"full_name": ""}, "full_name")):
        resp = await client.patch(f"{ADMIN_USERS}/{rahul}", headers=headers, json=bad)
        assert resp.status == 422, bad
        assert (await resp.json())["detail"][0]["loc"] == ["body", field]
    resp = await client.patch(f"{ADMIN_USERS}/{rahul}", headers=headers, data=b"[1]",
                              skip_auto_headers=["Content-Type"])
    assert resp.status == 422

    # A doctor's: the doctor's own profile fields and limits.
    resp = await client.patch(f"{ADMIN_USERS}/{asha}", headers=headers, json={"years_experience": 61})
    assert resp.status == 422
    resp = await client.patch(f"{ADMIN_USERS}/{asha}", headers=headers,
                              json={"years_experience": 7, "languages": ["hindi", "Hindi"], "age": 40})
    assert resp.status == 200
    body = await resp.json()
    assert body["role"] == "doctor" and body["years_experience"] == 7 and body["languages"] == ["Hindi"]
    rows = await audit_rows(db, action="user.update")
    assert len(rows) == 2 and rows[1]["target_type"] == "doctor"
    assert rows[1]["changed_fields"] == ["languages", "years_experience"]

    resp = await client.patch(f"{ADMIN_USERS}/{uuid.uuid4()}", headers=headers, json={"age": 30})
    assert resp.status == 404
    assert len(await audit_rows(db, action="user.update")) == 2


async def _otp_login(client) -> dict:
    resp = await client.post("/api/v2/auth/verify-otp", json={"phone": TEST_PHONE, "code": TEST_CODE})
    return {"status": resp.status, **(await resp.json())}


async def test_deactivation_ends_every_login_and_reactivation_lets_the_user_back_in(client, db, auth):
    admin, headers = await _admin(db, auth)
    first = await _otp_login(client)
    assert first["status"] == 200
    refreshed = await client.post("/api/v2/auth/refresh", json={"refresh_token": first["refresh_token"]})
    pair = await refreshed.json()
    me = await client.get("/api/v2/users/me", headers=bearer(pair["access_token"]))
    assert me.status == 200
    user_id = (await me.json())["id"]

    resp = await client.patch(f"{ADMIN_USERS}/{user_id}/status", headers=headers, json={"is_active": False})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["is_active"] is False
    for token in (first["access_token"], pair["access_token"]):  # refused at once, by this process
        resp = await client.get("/api/v2/users/me", headers=bearer(token))
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    assert (await client.post("/api/v2/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status == 401
    denied = await _otp_login(client)
    assert (denied["status"], denied["code"]) == (401, "ACCOUNT_INACTIVE")
    async with db.connect() as conn:
        kinds = sorted((await conn.execute(sa.select(auth_revocations.c.kind).where(
            auth_revocations.c.ref.in_([uuid.UUID(user_id)]) | (auth_revocations.c.kind == "family")))).scalars())
    assert kinds == ["family", "inactive", "subject"]

    resp = await client.patch(f"{ADMIN_USERS}/{user_id}/status", headers=headers, json={"is_active": True})
    assert resp.status == 200 and (await resp.json())["is_active"] is True
    again = await _otp_login(client)
    assert again["status"] == 200
    assert (await client.get("/api/v2/users/me", headers=bearer(again["access_token"]))).status == 200
    for token in (first["access_token"], pair["access_token"]):  # the old logins stay dead
        assert (await client.get("/api/v2/users/me", headers=bearer(token))).status == 401
    assert (await client.post("/api/v2/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status == 401

    rows = await audit_rows(db, action="user.status.update")
    assert [(r["target_type"], r["target_id"], r["changed_fields"]) for r in rows] == [
        ("user", user_id, ["is_active"])] * 2
    assert all(r["actor_id"] == admin["id"] for r in rows)


async def test_a_doctor_switched_off_goes_offline_and_cannot_log_in(client, db, auth):
    _, headers = await _admin(db, auth)
    doctor = await factories.make_doctor(db, presence_status="ONLINE")
    login = {"email": doctor["email"], "password": factories.PASSWORD}
    assert (await client.post("/api/v2/auth/doctor/login", json=login)).status == 200
    resp = await client.patch(f"{ADMIN_USERS}/{doctor['id']}/status", headers=headers, json={"is_active": False})
    assert resp.status == 200
    body = await resp.json()
    assert body["role"] == "doctor" and body["is_active"] is False and body["presence_status"] == "OFFLINE"
    assert (await client.post("/api/v2/auth/doctor/login", json=login)).status == 401
    assert (await client.get(f"/api/v2/doctors/{doctor['id']}")).status == 404  # out of public listings
    resp = await client.patch(f"{ADMIN_USERS}/{doctor['id']}/status", headers=headers, json={"is_active": True})
    assert resp.status == 200
    assert (await client.post("/api/v2/auth/doctor/login", json=login)).status == 200
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(doctors.c.presence_status).where(doctors.c.id == doctor["id"])) == "OFFLINE"
    [_, on] = await audit_rows(db, action="user.status.update")
    assert on["target_type"] == "doctor" and on["target_id"] == str(doctor["id"])


async def test_status_needs_a_boolean_and_an_account(client, db, auth):
    _, headers = await _admin(db, auth)
    user = await factories.make_user(db)
    for bad in ({}, {"is_active": "nope"}, {"is_active": None}):
        resp = await client.patch(f"{ADMIN_USERS}/{user['id']}/status", headers=headers, json=bad)
        assert resp.status == 422, bad
    resp = await client.patch(f"{ADMIN_USERS}/{uuid.uuid4()}/status", headers=headers, json={"is_active": False})
    assert resp.status == 404
    assert await audit_rows(db, action="user.status.update") == []
