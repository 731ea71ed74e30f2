"""POST / DELETE /devices/tokens: register, re-register (no duplicate), deactivate own only."""
from __future__ import annotations

import sqlalchemy as sa

from storage.tables import device_tokens
from tests import factories

URL = "/api/v2/devices/tokens"


async def _rows(db):
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(device_tokens))).mappings()]


async def test_register_returns_reference_shape_for_any_role(client, db, auth):
    user = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    resp = await client.post(URL, json={"token": "tok-patient", "platform": "android", "app_version": "2.3.1"},
                             headers=auth("client", user["id"]))
    assert resp.status == 201
    body = await resp.json()
    assert body["user_id"] == str(user["id"]) and body["role"] == "client"
    assert body["platform"] == "android" and body["is_active"] is True and body["id"]
    resp = await client.post(URL, json={"token": "tok-doctor", "platform": "ios"}, headers=auth("doctor", doctor["id"]))
    assert resp.status == 201
    assert (await resp.json())["role"] == "doctor"
    rows = {r["token"]: r for r in await _rows(db)}
    assert rows["tok-patient"]["app_version"] == "2.3.1" and rows["tok-doctor"]["platform"] == "ios"


async def test_reregistering_updates_owner_and_reactivates_without_duplicate(client, db, auth):
    first = await factories.make_user(db)
    second = await factories.make_user(db)
    resp = await client.post(URL, json={"token": "shared-phone", "platform": "android", "app_version": "1"},
                             headers=auth("client", first["id"]))
    original_id = (await resp.json())["id"]
    resp = await client.request("DELETE", URL, json={"token": "shared-phone"}, headers=auth("client", first["id"]))
    assert resp.status == 200 and (await resp.json()) == {"deactivated": 1}
    # Another account logs in on the same phone: the token moves over and is active again.
    resp = await client.post(URL, json={"token": "shared-phone", "platform": "ios", "app_version": "2"},
                             headers=auth("client", second["id"]))
    assert resp.status == 201
    body = await resp.json()
    assert body["id"] == original_id and body["user_id"] == str(second["id"]) and body["is_active"] is True
    rows = await _rows(db)
    assert len(rows) == 1
    assert rows[0]["platform"] == "ios" and rows[0]["app_version"] == "2" and rows[0]["deactivated_at"] is None


async def test_delete_only_touches_the_callers_own_token(client, db, auth):
    owner = await factories.make_user(db)
    other = await factories.make_user(db)
    await client.post(URL, json={"token": "owners-token", "platform": "android"}, headers=auth("client", owner["id"]))
    resp = await client.request("DELETE", URL, json={"token": "owners-token"}, headers=auth("client", other["id"]))
    assert resp.status == 200 and (await resp.json()) == {"deactivated": 0}
    assert (await _rows(db))[0]["is_active"] is True
    resp = await client.request("DELETE", URL, json={"token": "owners-token"}, headers=auth("client", owner["id"]))
    assert (await resp.json()) == {"deactivated": 1}
    again = await client.request("DELETE", URL, json={"token": "owners-token"}, headers=auth("client", owner["id"]))
    assert (await again.json()) == {"deactivated": 0}
    assert (await _rows(db))[0]["is_active"] is False


async def test_validation_and_auth(client, db, auth):
    user = await factories.make_user(db)
    headers = auth("client", user["id"])
    resp = await client.post(URL, json={"token": "x", "platform": "windows"}, headers=headers)
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == ["body", "platform"]
    resp = await client.post(URL, json={"token": "   ", "platform": "ios"}, headers=headers)
    assert resp.status == 422
    resp = await client.post(URL, json={"platform": "ios"}, headers=headers)
    assert resp.status == 422
    resp = await client.post(URL, json={"token": "x", "platform": "ios"})
    assert resp.status == 401
    resp = await client.request("DELETE", URL, json={}, headers=headers)
    assert resp.status == 422
    assert await _rows(db) == []
