"""Patients' favourite doctors: add/remove (idempotent) and the paginated list."""
from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa

from storage.tables import favourites
from tests.factories import make_doctor, make_user

API = "/api/v2/doctors"


async def _favourite_rows(db, user_id):
    async with db.connect() as conn:
        return set((await conn.execute(sa.select(favourites.c.doctor_id)
                                       .where(favourites.c.user_id == user_id))).scalars())


async def test_add_and_remove_are_idempotent(client, db, auth):
    user = await make_user(db)
    doctor = await make_doctor(db)
    headers = auth("client", user["id"])
    for _ in range(2):
        resp = await client.post(f"{API}/{doctor['id']}/favourite", json={"action": "add"}, headers=headers)
        assert resp.status == 200
        assert await resp.json() == {"doctor_id": str(doctor["id"]), "is_favourite": True}
    assert await _favourite_rows(db, user["id"]) == {doctor["id"]}
    for _ in range(2):
        resp = await client.post(f"{API}/{doctor['id']}/favourite", json={"action": "remove"}, headers=headers)
        assert resp.status == 200 and (await resp.json())["is_favourite"] is False
    assert await _favourite_rows(db, user["id"]) == set()


async def test_concurrent_adds_keep_one_row(client, db, auth):
    user = await make_user(db)
    doctor = await make_doctor(db)
    headers = auth("client", user["id"])
    responses = await asyncio.gather(*[
        client.post(f"{API}/{doctor['id']}/favourite", json={"action": "add"}, headers=headers) for _ in range(5)])
    assert [r.status for r in responses] == [200] * 5
    assert await _favourite_rows(db, user["id"]) == {doctor["id"]}


async def test_favourite_errors(client, db, auth):
    user = await make_user(db)
    doctor = await make_doctor(db)
    inactive = await make_doctor(db, is_active=False)
    headers = auth("client", user["id"])
    resp = await client.post(f"{API}/{uuid.uuid4()}/favourite", json={"action": "add"}, headers=headers)
    assert resp.status == 404
    resp = await client.post(f"{API}/{inactive['id']}/favourite", json={"action": "add"}, headers=headers)
    assert resp.status == 404
    resp = await client.post(f"{API}/{inactive['id']}/favourite", json={"action": "remove"}, headers=headers)
    assert resp.status == 200
    for body in ({}, {"action": "like"}, {"action": None}):
        resp = await client.post(f"{API}/{doctor['id']}/favourite", json=body, headers=headers)
        assert resp.status == 422, body
    assert (await client.post(f"{API}/{doctor['id']}/favourite", json={"action": "add"})).status == 401
    resp = await client.post(f"{API}/{doctor['id']}/favourite", json={"action": "add"},
                             headers=auth("doctor", doctor["id"]))
    assert resp.status == 403


async def test_favourites_list_is_paginated_and_own(client, db, auth):
    user = await make_user(db)
    stranger = await make_user(db)
    headers = auth("client", user["id"])
    added = []
    for i in range(3):
        doctor = await make_doctor(db, full_name=f"Dr. Fav {i}")
        added.append(doctor)
        resp = await client.post(f"{API}/{doctor['id']}/favourite", json={"action": "add"}, headers=headers)
        assert resp.status == 200
    hidden = await make_doctor(db, full_name="Dr. Hidden")
    async with db.begin() as conn:
        await conn.execute(sa.insert(favourites).values(user_id=user["id"], doctor_id=hidden["id"],
                                                        created_at=sa.func.now() - sa.text("interval '1 day'")))
        await conn.execute(sa.text("UPDATE doctors SET is_active = false WHERE id = :id"), {"id": hidden["id"]})
    await make_doctor(db, full_name="Dr. Not Mine")
    resp = await client.get(f"{API}/favourites", params={"skip": 0, "limit": 2}, headers=headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["total"] == 3 and body["limit"] == 2 and body["offset"] == 0 and body["has_more"] is True
    assert len(body["items"]) == 2 and all(item["is_favourite"] for item in body["items"])
    second = await (await client.get(f"{API}/favourites", params={"skip": 2, "limit": 2}, headers=headers)).json()
    assert second["offset"] == 2 and second["has_more"] is False
    names = {i["full_name"] for i in body["items"] + second["items"]}
    assert names == {"Dr. Fav 0", "Dr. Fav 1", "Dr. Fav 2"}

    empty = await (await client.get(f"{API}/favourites", headers=auth("client", stranger["id"]))).json()
    assert empty == {"items": [], "total": 0, "limit": 50, "offset": 0, "has_more": False}
    assert (await client.get(f"{API}/favourites", params={"limit": 101}, headers=headers)).status == 422
    assert (await client.get(f"{API}/favourites")).status == 401
    assert (await client.get(f"{API}/favourites", headers=auth("doctor", added[0]["id"]))).status == 403
