"""The patient profile: UserOut, partial updates with the reference's constraints, profile rules."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from domain.avatars import system_avatar_url
from domain.profile import bmi, is_profile_completed, profile_completion
from storage.tables import users
from tests import factories

ME = "/api/v2/users/me"
USER_OUT_KEYS = {"id", "full_name", "phone", "email", "avatar_url", "avatar_source", "member_since",
                 "is_phone_verified", "profile_completed", "profile_completion", "age", "sex", "height_cm",
                 "weight_kg", "bmi"}


async def _user_row(db, user_id):
    async with db.connect() as conn:
        return (await conn.execute(sa.select(users).where(users.c.id == user_id))).mappings().one()


async def test_get_me_returns_user_out(client, db, auth):
    user = await factories.make_user(db, phone="+918090839108", full_name="Rahul Sharma", age=28, sex="male",
                                     height_cm=175.0, weight_kg=72.5)
    resp = await client.get(ME, headers=auth("client", user["id"]))
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == USER_OUT_KEYS
    assert body["id"] == str(user["id"]) and body["phone"] == "+918090839108"
    assert body["full_name"] == "Rahul Sharma" and body["email"] is None
    assert body["avatar_source"] == "system"
    assert body["avatar_url"] == system_avatar_url(user["id"], "male")
    assert body["member_since"].endswith("Z")
    assert dt.datetime.fromisoformat(body["member_since"]) == user["created_at"]
    assert body["is_phone_verified"] is True and body["profile_completed"] is True
    assert body["profile_completion"] == 0.71  # 5 of 7: no email, no own avatar
    assert (body["age"], body["sex"], body["height_cm"], body["weight_kg"]) == (28, "male", 175.0, 72.5)
    assert body["bmi"] == 23.7


async def test_new_user_profile_is_incomplete(client, db, auth):
    user = await factories.make_user(db, full_name=None, age=None, sex=None)
    body = await (await client.get(ME, headers=auth("client", user["id"]))).json()
    assert body["profile_completed"] is False and body["profile_completion"] == 0.0
    assert body["bmi"] is None and body["full_name"] is None
    assert body["avatar_url"] == system_avatar_url(user["id"], None)


async def test_uploaded_avatar_is_shown_and_counts(client, db, auth):
    url = "https://cdn.allign.test/avatars/u1.webp"
    user = await factories.make_user(db, email="a@b.in", avatar_source="user", avatar_url=url,
                                     height_cm=160.0, weight_kg=50.0)
    body = await (await client.get(ME, headers=auth("client", user["id"]))).json()
    assert body["avatar_url"] == url and body["avatar_source"] == "user"
    assert body["profile_completion"] == 1.0


async def test_patch_updates_only_what_is_sent(client, db, auth, clock):
    user = await factories.make_user(db, full_name="Old Name", age=None, sex=None)
    headers = auth("client", user["id"])
    resp = await client.patch(ME, json={"age": 28, "sex": "female", "unknown_field": 1}, headers=headers)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == USER_OUT_KEYS
    assert (body["age"], body["sex"], body["full_name"]) == (28, "female", "Old Name")
    assert body["profile_completed"] is True and body["bmi"] is None
    assert body["avatar_url"] == system_avatar_url(user["id"], "female")

    resp = await client.patch(ME, json={"full_name": "  Priya Nair ", "email": "priya@example.com",
                                        "height_cm": 160, "weight_kg": 55.5}, headers=headers)
    body = await resp.json()
    assert body["full_name"] == "Priya Nair" and body["email"] == "priya@example.com"
    assert body["bmi"] == 21.7 and body["profile_completion"] == 0.86
    row = await _user_row(db, user["id"])
    assert (row["full_name"], row["age"], row["height_cm"], row["weight_kg"]) == ("Priya Nair", 28, 160.0, 55.5)
    assert row["updated_at"] > user["updated_at"]

    resp = await client.patch(ME, json={"email": None, "weight_kg": None}, headers=headers)
    body = await resp.json()
    assert body["email"] is None and body["weight_kg"] is None and body["bmi"] is None
    assert body["height_cm"] == 160.0

    assert (await client.patch(ME, json={}, headers=headers)).status == 200
    assert (await client.patch(ME, headers=headers)).status == 200


@pytest.mark.parametrize("field, value", [
    ("full_name", ""), ("full_name", "   "), ("full_name", "x" * 101), ("full_name", None), ("full_name", 5),
    ("age", 0), ("age", 151), ("age", "abc"), ("age", 28.5), ("age", True),
    ("sex", "unknown"), ("sex", "MALE"), ("sex", ""),
    ("height_cm", 49.9), ("height_cm", 300.1), ("height_cm", "tall"),
    ("weight_kg", 9.9), ("weight_kg", 500.1), ("weight_kg", "NaN"),
    ("email", "not-an-email"), ("email", ""), ("email", "a@"),
])
async def test_patch_rejects_each_constraint_with_422(client, db, auth, field, value):
    user = await factories.make_user(db)
    resp = await client.patch(ME, json={field: value}, headers=auth("client", user["id"]))
    assert resp.status == 422
    body = await resp.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert [item["loc"] for item in body["detail"]] == [["body", field]]
    assert (await _user_row(db, user["id"]))["updated_at"] == user["updated_at"]


async def test_patch_boundaries_are_accepted(client, db, auth):
    user = await factories.make_user(db)
    headers = auth("client", user["id"])
    for body in ({"age": 1, "height_cm": 50, "weight_kg": 10}, {"age": 150, "height_cm": 300, "weight_kg": 500},
                 {"full_name": "x" * 100, "sex": "prefer_not_to_say"}):
        resp = await client.patch(ME, json=body, headers=headers)
        assert resp.status == 200, body


async def test_patch_malformed_json_is_422(client, db, auth):
    user = await factories.make_user(db)
    resp = await client.patch(ME, data=b'{"age": ', headers={**auth("client", user["id"]),
                                                           "Content-Type": "application/json"})
    assert resp.status == 422
    resp = await client.patch(ME, json=[1, 2], headers=auth("client", user["id"]))
    assert resp.status == 422


async def test_profile_endpoints_are_for_patients_only(client, db, auth):
    doctor = await factories.make_doctor(db)
    admin = await factories.make_admin(db)
    for role, subject in (("doctor", doctor["id"]), ("admin", admin["id"])):
        assert (await client.get(ME, headers=auth(role, subject))).status == 403
        assert (await client.patch(ME, json={"age": 30}, headers=auth(role, subject))).status == 403
    assert (await client.get(ME)).status == 401
    assert (await client.patch(ME, json={"age": 30})).status == 401


def test_profile_rules():
    assert bmi(175.0, 72.5) == 23.7
    assert bmi(None, 70) is None and bmi(170, None) is None
    assert is_profile_completed({"sex": "other", "age": 40})
    assert not is_profile_completed({"sex": "male", "age": None})
    assert not is_profile_completed({"sex": None, "age": 30})
    assert profile_completion({}) == 0.0
    assert profile_completion({"full_name": "A", "email": "", "avatar_source": "system"}) == 0.14
    full = {"full_name": "A", "email": "a@b.in", "age": 1, "sex": "male", "height_cm": 1.0, "weight_kg": 1.0,
            "avatar_source": "user"}
    assert profile_completion(full) == 1.0
