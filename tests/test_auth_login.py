"""Password logins: doctors by email, admins by username or email; the admin's own profile."""
from __future__ import annotations

import datetime as dt

import jwt
import sqlalchemy as sa

from storage.tables import refresh_tokens
from tests import factories

DOCTOR_LOGIN = "/api/v2/auth/doctor/login"
ADMIN_LOGIN = "/api/v2/admin/auth/login"
ADMIN_ME = "/api/v2/admin/auth/me"


async def test_doctor_login_returns_a_doctor_token_pair(client, db, settings):
    doctor = await factories.make_doctor(db, email="Dr.Smith@allign.in")
    resp = await client.post(DOCTOR_LOGIN, json={"email": "dr.smith@allign.in", "password": factories.PASSWORD})
    assert resp.status == 200
    pair = await resp.json()
    assert pair["token_type"] == "bearer" and set(pair) == {"access_token", "refresh_token", "token_type"}
    claims = jwt.decode(pair["access_token"], settings.jwt_secret, algorithms=["HS256"])
    assert claims["sub"] == str(doctor["id"]) and claims["role"] == "doctor" and claims["type"] == "access"
    assert {"sub", "role", "type", "jti", "iat", "exp"} <= set(claims)
    async with db.connect() as conn:
        [row] = (await conn.execute(sa.select(refresh_tokens))).mappings().all()
    assert row["role"] == "doctor" and row["subject_id"] == doctor["id"]
    # The doctor token is a doctor's: a patient endpoint refuses it.
    me = await client.get("/api/v2/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status == 403


async def test_doctor_bad_credentials_share_one_answer(client, db):
    doctor = await factories.make_doctor(db)
    wrong = await client.post(DOCTOR_LOGIN, json={"email": doctor["email"], "password": "wrong-password"})
    unknown = await client.post(DOCTOR_LOGIN, json={"email": "nobody@allign.in", "password": factories.PASSWORD})
    spaced = await client.post(DOCTOR_LOGIN, json={"email": doctor["email"], "password": f" {factories.PASSWORD}"})
    bodies = [await r.json() for r in (wrong, unknown, spaced)]
    assert [r.status for r in (wrong, unknown, spaced)] == [401, 401, 401]
    assert bodies[0] == bodies[1] == bodies[2] == {"detail": "Incorrect email or password",
                                                   "code": "INVALID_CREDENTIALS"}
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


async def test_inactive_doctor_cannot_log_in(client, db):
    doctor = await factories.make_doctor(db, is_active=False)
    resp = await client.post(DOCTOR_LOGIN, json={"email": doctor["email"], "password": factories.PASSWORD})
    assert resp.status == 401 and (await resp.json())["code"] == "ACCOUNT_INACTIVE"


async def test_login_validation(client):
    for url, body, field in [(DOCTOR_LOGIN, {"password": "x"}, "email"), (DOCTOR_LOGIN, {"email": "a@b.in"}, "password"),
                             (DOCTOR_LOGIN, {"email": "  ", "password": "x"}, "email"),
                             (DOCTOR_LOGIN, {"email": "a@b.in", "password": ""}, "password"),
                             (ADMIN_LOGIN, {"password": "x"}, "username"), (ADMIN_LOGIN, {"username": "root"}, "password")]:
        resp = await client.post(url, json=body)
        assert resp.status == 422, (url, body)
        assert (await resp.json())["detail"][0]["loc"] == ["body", field]
    resp = await client.post(DOCTOR_LOGIN, json=["not", "an", "object"])
    assert resp.status == 422


async def test_admin_login_by_username_or_email_and_me(client, db, settings):
    admin = await factories.make_admin(db, username="opsadmin", email="Ops@allign.in", full_name="Ops Admin")
    for login in ("opsadmin", "ops@allign.in"):
        resp = await client.post(ADMIN_LOGIN, json={"username": login, "password": factories.PASSWORD})
        assert resp.status == 200, login
    pair = await resp.json()
    claims = jwt.decode(pair["access_token"], settings.jwt_secret, algorithms=["HS256"])
    assert claims["role"] == "admin" and claims["sub"] == str(admin["id"])
    me = await client.get(ADMIN_ME, headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status == 200
    body = await me.json()
    created_at = body.pop("created_at")
    assert body == {"id": str(admin["id"]), "username": "opsadmin", "email": "Ops@allign.in",
                    "full_name": "Ops Admin", "is_active": True}
    assert created_at.endswith("Z")
    assert dt.datetime.fromisoformat(created_at) == admin["created_at"]


async def test_admin_bad_credentials_and_inactive(client, db):
    await factories.make_admin(db, username="root1")
    await factories.make_admin(db, username="root2", is_active=False)
    wrong = await client.post(ADMIN_LOGIN, json={"username": "root1", "password": "nope"})
    unknown = await client.post(ADMIN_LOGIN, json={"username": "ghost", "password": factories.PASSWORD})
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()
    inactive = await client.post(ADMIN_LOGIN, json={"username": "root2", "password": factories.PASSWORD})
    assert inactive.status == 401 and (await inactive.json())["code"] == "ACCOUNT_INACTIVE"


async def test_admin_me_is_admin_only(client, db, auth):
    user = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    for role, subject in (("client", user["id"]), ("doctor", doctor["id"])):
        resp = await client.get(ADMIN_ME, headers=auth(role, subject))
        assert resp.status == 403 and (await resp.json())["code"] == "WRONG_ROLE"
    assert (await client.get(ADMIN_ME)).status == 401


async def test_bootstrap_admin_can_log_in(make_client, db):
    client = await make_client(admin_bootstrap_username="root", admin_bootstrap_password="B00tstrap-secret")
    resp = await client.post(ADMIN_LOGIN, json={"username": "root", "password": "B00tstrap-secret"})
    assert resp.status == 200
    pair = await resp.json()
    me = await client.get(ADMIN_ME, headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert (await me.json())["username"] == "root"
