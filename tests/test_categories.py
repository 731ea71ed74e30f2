"""Health categories: the patients' list (complete profile only) and admin CRUD."""
from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa

from storage.tables import health_categories
from tests.factories import make_admin, make_doctor, make_user

ADMIN = "/api/v2/admin/categories"
PUBLIC = "/api/v2/categories/health"


async def _count(db) -> int:
    async with db.connect() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(health_categories))


async def test_admin_crud(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    resp = await client.post(ADMIN, json={"name": "  Dermatology ", "description": "Skin care"}, headers=headers)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["name"] == "Dermatology" and created["description"] == "Skin care" and created["is_active"] is True
    assert created["created_at"].endswith("Z") and uuid.UUID(created["id"])
    category = f"{ADMIN}/{created['id']}"

    assert await (await client.get(category, headers=headers)).json() == created
    resp = await client.patch(category, json={"is_active": False}, headers=headers)
    assert resp.status == 200
    patched = await resp.json()
    assert patched["is_active"] is False and patched["name"] == "Dermatology"
    resp = await client.patch(category, json={"name": "Skin", "description": None}, headers=headers)
    assert (await resp.json())["name"] == "Skin" and (await resp.json())["description"] is None
    assert (await client.patch(category, json={}, headers=headers)).status == 200

    resp = await client.delete(category, headers=headers)
    assert resp.status == 204 and await resp.read() == b""
    assert await _count(db) == 0
    for method in ("get", "patch", "delete"):
        resp = await getattr(client, method)(category, headers=headers, json={"is_active": True})
        assert resp.status == 404, method
    assert (await client.get(f"{ADMIN}/not-a-uuid", headers=headers)).status == 404


async def test_duplicate_names_are_409(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    assert (await client.post(ADMIN, json={"name": "Urology"}, headers=headers)).status == 201
    resp = await client.post(ADMIN, json={"name": "urology"}, headers=headers)
    assert resp.status == 409 and (await resp.json())["code"] == "CATEGORY_EXISTS"
    other = await (await client.post(ADMIN, json={"name": "ENT"}, headers=headers)).json()
    resp = await client.patch(f"{ADMIN}/{other['id']}", json={"name": "UROLOGY"}, headers=headers)
    assert resp.status == 409
    # Concurrent creates of one name: exactly one wins.
    responses = await asyncio.gather(*[client.post(ADMIN, json={"name": "Cardiology"}, headers=headers)
                                       for _ in range(5)])
    assert sorted(r.status for r in responses) == [201, 409, 409, 409, 409]
    assert await _count(db) == 3


async def test_admin_validation_and_roles(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    for body in ({}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": "A", "is_active": "perhaps"},
                 {"name": "A", "description": "x" * 501}):
        assert (await client.post(ADMIN, json=body, headers=headers)).status == 422, body
    created = await (await client.post(ADMIN, json={"name": "A"}, headers=headers)).json()
    assert (await client.patch(f"{ADMIN}/{created['id']}", json={"name": ""}, headers=headers)).status == 422
    user = await make_user(db)
    doctor = await make_doctor(db)
    assert (await client.get(ADMIN)).status == 401
    for role, who in (("client", user), ("doctor", doctor)):
        h = auth(role, who["id"])
        assert (await client.get(ADMIN, headers=h)).status == 403
        assert (await client.post(ADMIN, json={"name": "B"}, headers=h)).status == 403
        assert (await client.delete(f"{ADMIN}/{created['id']}", headers=h)).status == 403


async def test_admin_list_is_paginated(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    for name in ("Pediatrics", "cardiology", "Urology"):
        await client.post(ADMIN, json={"name": name}, headers=headers)
    await client.post(ADMIN, json={"name": "Astrology", "is_active": False}, headers=headers)
    body = await (await client.get(ADMIN, params={"limit": 2}, headers=headers)).json()
    assert [c["name"] for c in body["items"]] == ["Astrology", "cardiology"]
    assert body["total"] == 4 and body["limit"] == 2 and body["offset"] == 0 and body["has_more"] is True
    body = await (await client.get(ADMIN, params={"limit": 2, "offset": 2}, headers=headers)).json()
    assert [c["name"] for c in body["items"]] == ["Pediatrics", "Urology"] and body["has_more"] is False
    body = await (await client.get(ADMIN, params={"is_active": "false"}, headers=headers)).json()
    assert [c["name"] for c in body["items"]] == ["Astrology"]
    body = await (await client.get(ADMIN, params={"q": "LOGY"}, headers=headers)).json()
    assert body["total"] == 3
    assert (await (await client.get(ADMIN, headers=headers)).json())["limit"] == 50
    for params in ({"limit": 101}, {"limit": 0}, {"offset": -1}):
        assert (await client.get(ADMIN, params=params, headers=headers)).status == 422


async def test_patients_see_active_categories_with_a_complete_profile(client, db, auth):
    async with db.begin() as conn:
        await conn.execute(sa.insert(health_categories).values([
            {"name": "Urology", "description": None, "is_active": True},
            {"name": "Dermatology", "description": "Skin", "is_active": True},
            {"name": "Hidden", "description": None, "is_active": False}]))
    user = await make_user(db, sex="female", age=31)
    resp = await client.get(PUBLIC, headers=auth("client", user["id"]))
    assert resp.status == 200
    body = await resp.json()
    assert [c["name"] for c in body["items"]] == ["Dermatology", "Urology"]
    assert body["total"] == 2 and body["has_more"] is False
    assert body["items"][0]["description"] == "Skin"


async def test_health_categories_need_sex_and_age(client, db, auth):
    for fields in ({"sex": None, "age": 30}, {"sex": "male", "age": None}, {"sex": None, "age": None}):
        user = await make_user(db, **fields)
        resp = await client.get(PUBLIC, headers=auth("client", user["id"]))
        assert resp.status == 409, fields
        assert (await resp.json())["code"] == "PROFILE_INCOMPLETE"
    assert (await client.get(PUBLIC)).status == 401
    doctor = await make_doctor(db)
    assert (await client.get(PUBLIC, headers=auth("doctor", doctor["id"]))).status == 403
