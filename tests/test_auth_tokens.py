"""Bearer tokens: rejection of bad tokens, refresh rotation and reuse detection, logout, deactivation."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import uuid

import jwt
import pytest
import sqlalchemy as sa

from domain import tokens
from gateway.auth import sync
from storage.tables import refresh_tokens, users
from tests import factories

ME = "/api/v2/users/me"
REFRESH = "/api/v2/auth/refresh"
LOGOUT = "/api/v2/auth/logout"
TEST_PHONE, TEST_CODE = "+919999999999", "123456"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client, phone: str = TEST_PHONE, code: str = TEST_CODE) -> dict:
    resp = await client.post("/api/v2/auth/verify-otp", json={"phone": phone, "code": code})
    assert resp.status == 200
    return await resp.json()


async def _refresh_rows(db):
    async with db.connect() as conn:
        return (await conn.execute(sa.select(refresh_tokens).order_by(refresh_tokens.c.issued_at))).mappings().all()


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _assert_401(resp, code: str | None = None):
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    body = await resp.json()
    assert isinstance(body["detail"], str)
    if code:
        assert body["code"] == code, body


async def test_missing_or_malformed_authorization_is_401(client):
    await _assert_401(await client.get(ME))
    await _assert_401(await client.get(ME, headers={"Authorization": "Token abc"}))
    await _assert_401(await client.get(ME, headers={"Authorization": "Bearer"}))
    await _assert_401(await client.get(ME, headers=bearer("not.a.jwt")), "INVALID_TOKEN")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_expired_tampered_unsigned_and_foreign_tokens_are_401(client, db, settings):
    user = await factories.make_user(db)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    expired = factories.access_token(settings, "client", user["id"], now=past)
    await _assert_401(await client.get(ME, headers=bearer(expired)), "TOKEN_EXPIRED")

    good = factories.access_token(settings, "client", user["id"])
    assert (await client.get(ME, headers=bearer(good))).status == 200
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    forged_payload = _b64({**claims, "role": "admin"})
    await _assert_401(await client.get(ME, headers=bearer(f"{header}.{forged_payload}.{signature}")),
                      "INVALID_TOKEN")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    await _assert_401(await client.get(ME, headers=bearer(f"{header}.{payload}.{flipped}")), "INVALID_TOKEN")

    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    await _assert_401(await client.get(ME, headers=bearer(unsigned)), "INVALID_TOKEN")
    other_key = jwt.encode(claims, "some-other-secret-of-sufficient-length!", algorithm="HS256")
    await _assert_401(await client.get(ME, headers=bearer(other_key)), "INVALID_TOKEN")
    hs512 = jwt.encode(claims, settings.jwt_secret, algorithm="HS512")
    await _assert_401(await client.get(ME, headers=bearer(hs512)), "INVALID_TOKEN")


async def test_token_types_are_not_interchangeable(client):
    pair = await login(client)
    await _assert_401(await client.get(ME, headers=bearer(pair["refresh_token"])), "INVALID_TOKEN")
    await _assert_401(await client.post(REFRESH, json={"refresh_token": pair["access_token"]}), "INVALID_TOKEN")


async def test_wrong_role_is_403(client, db, auth):
    doctor = await factories.make_doctor(db)
    resp = await client.get(ME, headers=auth("doctor", doctor["id"]))
    assert resp.status == 403 and (await resp.json())["code"] == "WRONG_ROLE"


async def test_refresh_rotates_and_replay_revokes_the_family(client, db, settings):
    first = await login(client)
    resp = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert resp.status == 200
    second = await resp.json()
    assert set(second) == {"access_token", "refresh_token", "token_type"}
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get(ME, headers=bearer(second["access_token"]))).status == 200
    old, new = await _refresh_rows(db)
    assert old["revoked_at"] is not None and old["replaced_by"] == new["jti"]
    assert new["revoked_at"] is None and new["family_id"] == old["family_id"]
    assert new["token_hash"] == tokens.fingerprint(second["refresh_token"])
    assert second["refresh_token"] not in {r["token_hash"] for r in (old, new)}

    # Replaying the rotated token: 401, and the whole family (including the newest token) dies.
    await _assert_401(await client.post(REFRESH, json={"refresh_token": first["refresh_token"]}), "TOKEN_REVOKED")
    assert all(r["revoked_at"] is not None for r in await _refresh_rows(db))
    await _assert_401(await client.post(REFRESH, json={"refresh_token": second["refresh_token"]}), "TOKEN_REVOKED")


async def test_replay_revokes_only_its_own_family(client, db):
    device_a = await login(client)
    device_b = await login(client)
    rotated = await (await client.post(REFRESH, json={"refresh_token": device_a["refresh_token"]})).json()
    assert (await client.post(REFRESH, json={"refresh_token": device_a["refresh_token"]})).status == 401
    assert (await client.post(REFRESH, json={"refresh_token": rotated["refresh_token"]})).status == 401
    assert (await client.post(REFRESH, json={"refresh_token": device_b["refresh_token"]})).status == 200


async def test_concurrent_refresh_of_one_token_has_one_winner(client, db):
    pair = await login(client)
    responses = await asyncio.gather(*(client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
                                       for _ in range(5)))
    assert sorted(r.status for r in responses) == [200, 401, 401, 401, 401]
    rows = await _refresh_rows(db)
    assert len(rows) == 2  # the original and exactly one successor


async def test_refresh_validation_and_unknown_tokens(client, db, settings):
    for body in ({}, {"refresh_token": ""}, {"refresh_token": None}):
        resp = await client.post(REFRESH, json=body)
        assert resp.status == 422 and (await resp.json())["detail"][0]["loc"] == ["body", "refresh_token"]
    await _assert_401(await client.post(REFRESH, json={"refresh_token": "garbage"}), "INVALID_TOKEN")
    user = await factories.make_user(db)
    # Correctly signed, but never issued (no row): refused.
    minted, _ = tokens.encode(settings.jwt_secret, subject=user["id"], role="client", type_="refresh",
                              ttl=3600, now=dt.datetime.now(dt.timezone.utc), family=uuid.uuid4())
    await _assert_401(await client.post(REFRESH, json={"refresh_token": minted}), "INVALID_TOKEN")


async def test_refresh_token_expires_after_thirty_days(make_client, frozen_clock):
    client = await make_client(clock=frozen_clock)
    early, late = await login(client), await login(client)
    frozen_clock.advance(30 * 24 * 3600 - 10)
    assert (await client.post(REFRESH, json={"refresh_token": early["refresh_token"]})).status == 200
    await _assert_401(await client.get(ME, headers=bearer(late["access_token"])), "TOKEN_EXPIRED")
    frozen_clock.advance(11)
    await _assert_401(await client.post(REFRESH, json={"refresh_token": late["refresh_token"]}), "TOKEN_EXPIRED")


async def test_logout_revokes_both_tokens_of_that_login_only(client, db, settings):
    pair = await login(client)
    other = await login(client)
    resp = await client.post(LOGOUT, headers=bearer(pair["access_token"]))
    assert resp.status == 200 and await resp.json() == {"message": "Logged out"}
    await _assert_401(await client.get(ME, headers=bearer(pair["access_token"])), "TOKEN_REVOKED")
    await _assert_401(await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), "TOKEN_REVOKED")
    await _assert_401(await client.post(LOGOUT, headers=bearer(pair["access_token"])), "TOKEN_REVOKED")
    # The revocation lasts as long as the access token would have (gateway.auth: a revocation log).
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    async with db.connect() as conn:
        until = await conn.scalar(sa.text("SELECT expires_at FROM auth_revocations WHERE kind = 'token' AND ref = :jti"),
                                  {"jti": uuid.UUID(claims["jti"])})
    assert int(until.timestamp()) == claims["exp"]
    # Another device of the same user stays logged in.
    assert (await client.get(ME, headers=bearer(other["access_token"]))).status == 200
    assert (await client.post(REFRESH, json={"refresh_token": other["refresh_token"]})).status == 200


async def test_logout_needs_a_token_and_works_for_every_role(client, db):
    await _assert_401(await client.post(LOGOUT))
    doctor = await factories.make_doctor(db)
    resp = await client.post("/api/v2/auth/doctor/login", json={"email": doctor["email"],
                                                                "password": factories.PASSWORD})
    pair = await resp.json()
    assert (await client.post(LOGOUT, headers=bearer(pair["access_token"]))).status == 200
    assert (await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})).status == 401


async def test_deactivated_user_gets_401_everywhere_and_cannot_refresh(client, db):
    pair = await login(client)
    async with db.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.phone == TEST_PHONE).values(is_active=False))
    await sync(client.server.app)  # an operator's SQL reaches the view within 1 s; here: at once
    await _assert_401(await client.get(ME, headers=bearer(pair["access_token"])), "ACCOUNT_INACTIVE")
    await _assert_401(await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}), "ACCOUNT_INACTIVE")
    async with db.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.phone == TEST_PHONE).values(is_active=True))
    await sync(client.server.app)
    # The refused refresh did not burn the token.
    assert (await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})).status == 200
