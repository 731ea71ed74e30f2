"""Password logins are throttled per account and per client IP: after repeated failures a short
lockout (429 LOGIN_LOCKED + Retry-After), the right password included; unknown accounts answer
exactly like known ones; a success clears the account's failures."""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from tests import factories

DOCTOR_LOGIN = "/api/v2/auth/doctor/login"
ADMIN_LOGIN = "/api/v2/admin/auth/login"
LOCKED = {"detail": "Too many failed login attempts; try again later", "code": "LOGIN_LOCKED"}


async def _attempts(client, url: str, bodies: list[dict]) -> list[tuple[int, dict, str | None]]:
    out = []
    for body in bodies:
        resp = await client.post(url, json=body)
        out.append((resp.status, await resp.json(), resp.headers.get("Retry-After")))
    return out


async def test_ten_wrong_passwords_then_the_right_one_is_locked(client, db):
    doctor = await factories.make_doctor(db)
    wrong = {"email": doctor["email"], "password": "wrong-password"}
    results = await _attempts(client, DOCTOR_LOGIN, [wrong] * 10 + [{**wrong, "password": factories.PASSWORD}])
    assert [status for status, _, _ in results] == [401] * 5 + [429] * 6
    for _, body, retry_after in results[5:]:
        assert body == LOCKED and 0 < int(retry_after) <= 300
    # The lock is per account: another doctor on the same IP still logs in.
    other = await factories.make_doctor(db)
    resp = await client.post(DOCTOR_LOGIN, json={"email": other["email"], "password": factories.PASSWORD})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"


async def test_unknown_accounts_answer_like_known_ones(client, db):
    doctor = await factories.make_doctor(db)
    known = await _attempts(client, DOCTOR_LOGIN, [{"email": doctor["email"], "password": "nope"}] * 7)
    unknown = await _attempts(client, DOCTOR_LOGIN, [{"email": "nobody@allign.test", "password": "nope"}] * 7)
    assert [(s, b) for s, b, _ in known] == [(s, b) for s, b, _ in unknown]
    assert [s for s, _, _ in unknown] == [401] * 5 + [429] * 2


async def test_the_account_is_the_login_in_any_case(client, db):
    await factories.make_doctor(db, email="asha.rao@allign.test")
    spellings = ["asha.rao@allign.test", "ASHA.RAO@allign.test", " Asha.Rao@Allign.Test "]
    results = await _attempts(client, DOCTOR_LOGIN, [{"email": e, "password": "x"} for e in spellings * 2])
    assert [s for s, _, _ in results] == [401] * 5 + [429]


async def test_a_success_clears_the_accounts_failures(client, db):
    doctor = await factories.make_doctor(db)
    wrong, right = {"email": doctor["email"], "password": "wrong"}, {"email": doctor["email"], "password": factories.PASSWORD}
    results = await _attempts(client, DOCTOR_LOGIN, [wrong] * 4 + [right] + [wrong] * 4 + [right])
    assert [s for s, _, _ in results] == [401] * 4 + [200] + [401] * 4 + [200]


async def test_per_ip_limit_across_accounts(make_client, db):
    client = await make_client(login_max_failures_per_ip=3)
    doctors = [await factories.make_doctor(db) for _ in range(4)]
    results = await _attempts(client, DOCTOR_LOGIN, [{"email": d["email"], "password": "x"} for d in doctors[:3]])
    assert [s for s, _, _ in results] == [401] * 3
    # This IP is now locked, for any account, doctor or admin, right password or not.
    resp = await client.post(DOCTOR_LOGIN, json={"email": doctors[3]["email"], "password": factories.PASSWORD})
    assert resp.status == 429 and await resp.json() == LOCKED and resp.headers["Retry-After"]
    admin = await factories.make_admin(db)
    resp = await client.post(ADMIN_LOGIN, json={"username": admin["username"], "password": factories.PASSWORD})
    assert resp.status == 429


async def test_admin_login_is_throttled_and_the_lockout_ends(make_client, db):
    client = await make_client(login_lockout=1)
    admin = await factories.make_admin(db)
    wrong, right = {"username": admin["username"], "password": "x"}, {"username": admin["username"],
                                                                      "password": factories.PASSWORD}
    results = await _attempts(client, ADMIN_LOGIN, [wrong] * 5 + [right])
    assert [s for s, _, _ in results] == [401] * 5 + [429]
    assert results[-1][2] == "1"
    async with asyncio.timeout(15):  # the lock is a key that expires: wait for it to go
        while (resp := await client.post(ADMIN_LOGIN, json=right)).status == 429:
            await asyncio.sleep(0.2)
    assert resp.status == 200


async def test_redis_holds_no_login_or_address_in_clear(client, db, settings):
    doctor = await factories.make_doctor(db)
    await _attempts(client, DOCTOR_LOGIN, [{"email": doctor["email"], "password": "x"}] * 5)
    r = aioredis.from_url(settings.redis_url)
    try:
        names = [k.decode() async for k in r.scan_iter(match=settings.redis_prefix + "login:*")]
    finally:
        await r.aclose()
    assert any(":lock:" in n for n in names) and any(":fail:" in n for n in names)
    assert not [n for n in names if doctor["email"] in n or "127.0.0.1" in n]
