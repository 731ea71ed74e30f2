"""Revocation without a round trip per request (gateway.auth.RevocationView): a revoked login takes
every access token of its family with it, an admin's password change ends the doctor's logins, and
every process enforces a revocation within STALENESS_BOUND (1 s) of its commit; while the view
cannot be kept current, tokens are checked in the database, and a request whose check cannot be
made is a 503, never let through."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import aiohttp
import pytest
import sqlalchemy as sa

from gateway import auth as gateway_auth
from gateway import keys
from storage import accounts
from storage.tables import refresh_tokens, users
from tests import factories
from tests.servers import SseReader, start_server

ME = "/api/v2/users/me"
DOCTOR_ME = "/api/v2/doctors/me/profile"
REFRESH = "/api/v2/auth/refresh"
LOGOUT = "/api/v2/auth/logout"
DOCTORS = "/api/v2/doctors"
STREAM = "/api/v2/connect/sessions/requests/stream"
TEST_PHONE, TEST_CODE = "+919999999999", "123456"
TEST_NUMBERS = f"{TEST_PHONE}:{TEST_CODE}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _code(resp) -> tuple[int, str | None]:
    body = await resp.json() if resp.content_type == "application/json" else {}
    return resp.status, body.get("code")


async def patient_login(client) -> dict:
    resp = await client.post("/api/v2/auth/verify-otp", json={"phone": TEST_PHONE, "code": TEST_CODE})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def doctor_login(client, email: str, password: str = factories.PASSWORD) -> dict:
    resp = await client.post("/api/v2/auth/doctor/login", json={"email": email, "password": password})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def refresh(client, pair: dict) -> dict:
    resp = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert resp.status == 200, await resp.text()
    return await resp.json()


# --- a revoked login takes its access tokens with it ---------------------------------------

async def test_a_reused_refresh_token_kills_every_access_token_of_its_family(client):
    first = await patient_login(client)
    second = await refresh(client, first)
    other_device = await patient_login(client)
    for pair in (first, second, other_device):
        assert (await client.get(ME, headers=bearer(pair["access_token"]))).status == 200
    replay = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert await _code(replay) == (401, "TOKEN_REVOKED")
    for pair in (first, second):  # issued before and after the rotation: the same login
        assert await _code(await client.get(ME, headers=bearer(pair["access_token"]))) == (401, "TOKEN_REVOKED")
    assert (await client.get(ME, headers=bearer(other_device["access_token"]))).status == 200


async def test_logout_kills_the_earlier_access_tokens_of_the_same_login(client):
    first = await patient_login(client)
    second = await refresh(client, first)
    other_device = await patient_login(client)
    assert (await client.post(LOGOUT, headers=bearer(second["access_token"]))).status == 200
    for pair in (first, second):
        assert await _code(await client.get(ME, headers=bearer(pair["access_token"]))) == (401, "TOKEN_REVOKED")
    assert await _code(await client.post(REFRESH, json={"refresh_token": second["refresh_token"]})) == \
        (401, "TOKEN_REVOKED")
    assert (await client.get(ME, headers=bearer(other_device["access_token"]))).status == 200
    assert (await client.post(REFRESH, json={"refresh_token": other_device["refresh_token"]})).status == 200


async def test_an_admin_password_change_ends_every_login_of_the_doctor(client, db, auth):
    admin_headers = auth("admin", (await factories.make_admin(db))["id"])
    doctor = await factories.make_doctor(db)
    phone, laptop = await doctor_login(client, doctor["email"]), await doctor_login(client, doctor["email"])
    laptop = await refresh(client, laptop)
    unrelated = await factories.make_doctor(db)
    unrelated_pair = await doctor_login(client, unrelated["email"])
    family_less = factories.access_token(client.server.app[keys.SETTINGS], "doctor", doctor["id"],
                                         now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5))
    for token in (phone["access_token"], laptop["access_token"], family_less):
        assert (await client.get(DOCTOR_ME, headers=bearer(token))).status == 200

    resp = await client.patch(f"{DOCTORS}/{doctor['id']}", headers=admin_headers, json={"password": "a-new-secret-1"})
    assert resp.status == 200, await resp.text()

    for pair in (phone, laptop):
        assert await _code(await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})) == \
            (401, "TOKEN_REVOKED")
    for token in (phone["access_token"], laptop["access_token"], family_less):
        assert await _code(await client.get(DOCTOR_ME, headers=bearer(token))) == (401, "TOKEN_REVOKED")
    async with db.connect() as conn:
        live = await conn.scalar(sa.select(sa.func.count()).select_from(refresh_tokens).where(
            refresh_tokens.c.subject_id == doctor["id"], refresh_tokens.c.revoked_at.is_(None)))
    assert live == 0
    # The new password works at once (a login in the same second as the change included); the old
    # one does not; another doctor is untouched.
    fresh = await doctor_login(client, doctor["email"], "a-new-secret-1")
    assert (await client.get(DOCTOR_ME, headers=bearer(fresh["access_token"]))).status == 200
    old = await client.post("/api/v2/auth/doctor/login", json={"email": doctor["email"], "password": factories.PASSWORD})
    assert old.status == 401
    assert (await client.get(DOCTOR_ME, headers=bearer(unrelated_pair["access_token"]))).status == 200
    # A profile edit without a password revokes nothing.
    resp = await client.patch(f"{DOCTORS}/{doctor['id']}", headers=admin_headers, json={"bio": "Updated"})
    assert resp.status == 200
    assert (await client.get(DOCTOR_ME, headers=bearer(fresh["access_token"]))).status == 200


async def test_a_refresh_racing_a_password_change_leaves_no_live_token(client, db, auth):
    """A refresh is mid-exchange when the admin changes the doctor's password: the change waits for
    the exchange (which holds the doctor's row shared), then revokes what it produced. Made
    deterministic by holding the old refresh token's row: the exchange queues on it first, the
    change queues behind the exchange, then the hold is released. (Before: the change did not wait,
    and the exchange's new refresh token, committed after the change's UPDATE began, stayed live.)"""
    admin_headers = auth("admin", (await factories.make_admin(db))["id"])
    doctor = await factories.make_doctor(db)
    pair = await doctor_login(client, doctor["email"])
    async with db.connect() as holder:
        await holder.begin()
        await holder.execute(sa.select(refresh_tokens.c.jti).where(refresh_tokens.c.subject_id == doctor["id"])
                             .with_for_update())
        exchange = asyncio.ensure_future(client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}))
        await _until_waiting(db, 1, exchange)
        change = asyncio.ensure_future(client.patch(f"{DOCTORS}/{doctor['id']}", headers=admin_headers,
                                                    json={"password": "a-new-secret-2"}))
        await _until_waiting(db, 2, exchange, change)
        await holder.rollback()
    exchanged, changed = await exchange, await change
    assert changed.status == 200, await changed.text()
    assert exchanged.status == 200, await exchanged.text()  # first in line: the exchange went through
    new = await exchanged.json()
    async with db.connect() as conn:
        live = await conn.scalar(sa.select(sa.func.count()).select_from(refresh_tokens).where(
            refresh_tokens.c.subject_id == doctor["id"], refresh_tokens.c.revoked_at.is_(None)))
    assert live == 0
    await gateway_auth.sync(client.server.app)
    assert await _code(await client.post(REFRESH, json={"refresh_token": new["refresh_token"]})) == (401, "TOKEN_REVOKED")
    assert await _code(await client.get(DOCTOR_ME, headers=bearer(new["access_token"]))) == (401, "TOKEN_REVOKED")


async def _until_waiting(db, backends: int, *requests: asyncio.Future) -> None:
    """Until `backends` server connections wait on a lock (the requests must not finish meanwhile)."""
    async with asyncio.timeout(10):
        while True:
            async with db.connect() as conn:
                waiting = await conn.scalar(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"))
            if waiting >= backends:
                return
            for request in requests:
                assert not request.done(), await (await request).text()
            await asyncio.sleep(0.02)


async def test_a_password_change_for_an_unknown_doctor_revokes_nothing(client, db, auth):
    admin_headers = auth("admin", (await factories.make_admin(db))["id"])
    resp = await client.patch(f"{DOCTORS}/{uuid.uuid4()}", headers=admin_headers, json={"password": "a-new-secret-1"})
    assert resp.status == 404
    async with db.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM auth_revocations")) == 0


async def test_deactivation_closes_held_streams_and_reactivation_restores_the_token(client, db, auth, monkeypatch):
    admin_headers = auth("admin", (await factories.make_admin(db))["id"])
    doctor = await factories.make_doctor(db)
    pair = await doctor_login(client, doctor["email"])
    reader = SseReader(await client.get(STREAM, headers=bearer(pair["access_token"])))
    assert (await reader.next()).event == "connected"
    resp = await client.patch(f"{DOCTORS}/{doctor['id']}", headers=admin_headers, json={"is_active": False})
    assert resp.status == 200
    assert await _code(await client.get(DOCTOR_ME, headers=bearer(pair["access_token"]))) == (401, "ACCOUNT_INACTIVE")
    with pytest.raises(EOFError):  # closed by the connection reaper within about a second
        await reader.next(timeout=5)
    resp = await client.patch(f"{DOCTORS}/{doctor['id']}", headers=admin_headers, json={"is_active": True})
    assert resp.status == 200
    assert (await client.get(DOCTOR_ME, headers=bearer(pair["access_token"]))).status == 200


async def test_an_operators_sql_reaches_the_view_and_so_does_the_full_refresh(make_client, db, settings, monkeypatch):
    """Activity changes made outside the API are logged by triggers; a change that even bypasses the
    triggers is picked up by the periodic full load (the safety net)."""
    monkeypatch.setattr(gateway_auth, "FULL_REFRESH_INTERVAL", 0.5)
    client = await make_client()
    user = await factories.make_user(db)
    headers = bearer(factories.access_token(settings, "client", user["id"]))
    assert (await client.get(ME, headers=headers)).status == 200
    async with db.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.id == user["id"]).values(is_active=False))
    assert await _eventually(client, ME, headers, (401, "ACCOUNT_INACTIVE"), within=gateway_auth.STALENESS_BOUND)
    async with db.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.id == user["id"]).values(is_active=True))
    assert await _eventually(client, ME, headers, (200, None), within=gateway_auth.STALENESS_BOUND)
    async with db.begin() as conn:
        await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))  # no triggers
        await conn.execute(sa.update(users).where(users.c.id == user["id"]).values(is_active=False))
    assert await _eventually(client, ME, headers, (401, "ACCOUNT_INACTIVE"), within=0.5 + gateway_auth.STALENESS_BOUND)


# --- when the view cannot be kept current -------------------------------------------------

async def test_a_view_that_cannot_be_kept_current_falls_back_to_the_database_then_to_503(client, db, settings,
                                                                                        monkeypatch):
    app = client.server.app
    view = app[gateway_auth.REVOCATIONS]
    user = await factories.make_user(db)
    headers = bearer(factories.access_token(settings, "client", user["id"]))
    assert (await client.get(ME, headers=headers)).status == 200

    async def unreachable(*args, **kwargs):
        raise ConnectionRefusedError("database unreachable (test)")

    monkeypatch.setattr(accounts, "load_view", unreachable)
    monkeypatch.setattr(accounts, "revocations_after", unreachable)
    view.invalidate()  # as after a lost connection: the next pass must load, and cannot
    assert not view.current()
    # Not current: every check reads the database, as strictly as the view.
    async with db.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.id == user["id"]).values(is_active=False))
    assert await _code(await client.get(ME, headers=headers)) == (401, "ACCOUNT_INACTIVE")
    async with db.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.id == user["id"]).values(is_active=True))
    assert (await client.get(ME, headers=headers)).status == 200
    other_login = await patient_login(client)
    assert (await client.post(LOGOUT, headers=bearer(other_login["access_token"]))).status == 200
    assert await _code(await client.get(ME, headers=bearer(other_login["access_token"]))) == (401, "TOKEN_REVOKED")

    # And when that check cannot be made either: 503 with Retry-After, never a token let through.
    monkeypatch.setattr(accounts, "access_state", unreachable)
    resp = await client.get(ME, headers=headers)
    assert await _code(resp) == (503, "AUTH_UNAVAILABLE") and resp.headers["Retry-After"] == "1"

    # The database is back: the view loads again and is current within a pass or two.
    monkeypatch.undo()
    deadline = time.monotonic() + 3
    while not view.current():
        assert time.monotonic() < deadline, "the view did not recover"
        await asyncio.sleep(0.05)
    assert (await client.get(ME, headers=headers)).status == 200
    assert await _code(await client.get(ME, headers=bearer(other_login["access_token"]))) == (401, "TOKEN_REVOKED")


async def test_redis_being_down_changes_nothing_for_authentication(make_client, db, settings):
    client = await make_client(redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    pair = await patient_login(client)
    assert (await client.get(ME, headers=bearer(pair["access_token"]))).status == 200
    assert (await client.post(LOGOUT, headers=bearer(pair["access_token"]))).status == 200
    assert await _code(await client.get(ME, headers=bearer(pair["access_token"]))) == (401, "TOKEN_REVOKED")


# --- two processes ------------------------------------------------------------------------

@pytest.fixture
async def two_servers(settings):
    env = {"OTP_TEST_NUMBERS": TEST_NUMBERS}
    servers = await asyncio.gather(start_server(settings, env_overrides=env), start_server(settings, env_overrides=env))
    try:
        yield servers
    finally:
        await asyncio.gather(*(server.stop() for server in servers))


async def _first_refusal(http: aiohttp.ClientSession, url: str, token: str, expected: tuple[int, str],
                         limit: float = 5.0, meanwhile: tuple[int, ...] = (200,)) -> float:
    """Seconds until `url` refuses `token` with `expected` (polled every 10 ms); statuses answered
    until then must be in `meanwhile`."""
    started = time.monotonic()
    while True:
        async with http.get(url, headers=bearer(token)) as resp:
            got = await _code(resp)
        if got == expected:
            return time.monotonic() - started
        assert got[0] in meanwhile, got
        assert time.monotonic() - started < limit, "never refused"
        await asyncio.sleep(0.01)


async def test_a_logout_on_one_process_is_enforced_by_the_other_within_the_bound(two_servers, db):
    a, b = two_servers
    async with aiohttp.ClientSession() as http:
        async with http.post(a.api_url + "/auth/verify-otp", json={"phone": TEST_PHONE, "code": TEST_CODE}) as resp:
            first = await resp.json()
        async with http.post(a.api_url + "/auth/refresh", json={"refresh_token": first["refresh_token"]}) as resp:
            second = await resp.json()
        for token in (first["access_token"], second["access_token"]):
            async with http.get(b.api_url + "/users/me", headers=bearer(token)) as resp:
                assert resp.status == 200
        async with http.post(a.api_url + "/auth/logout", headers=bearer(second["access_token"])) as resp:
            assert resp.status == 200
        elapsed = await _first_refusal(http, b.api_url + "/users/me", first["access_token"], (401, "TOKEN_REVOKED"))
    assert elapsed < gateway_auth.STALENESS_BOUND, (elapsed, b.output())


async def test_an_admin_action_on_one_process_is_enforced_by_the_other_within_the_bound(two_servers, db, settings):
    a, b = two_servers
    admin = bearer(factories.access_token(settings, "admin", (await factories.make_admin(db))["id"]))
    deactivated, repassworded = await factories.make_doctor(db), await factories.make_doctor(db)
    async with aiohttp.ClientSession() as http:
        pairs = {}
        for doctor in (deactivated, repassworded):
            async with http.post(a.api_url + "/auth/doctor/login",
                                 json={"email": doctor["email"], "password": factories.PASSWORD}) as resp:
                pairs[doctor["id"]] = await resp.json()
            async with http.get(b.api_url + "/doctors/me/profile",
                                headers=bearer(pairs[doctor["id"]]["access_token"])) as resp:
                assert resp.status == 200
        async with http.patch(f"{a.api_url}/doctors/{deactivated['id']}", headers=admin,
                              json={"is_active": False}) as resp:
            assert resp.status == 200
        # Until B's view has it, B's handler itself finds no active doctor (404).
        inactive_after = await _first_refusal(http, b.api_url + "/doctors/me/profile",
                                              pairs[deactivated["id"]]["access_token"], (401, "ACCOUNT_INACTIVE"),
                                              meanwhile=(200, 404))
        async with http.patch(f"{a.api_url}/doctors/{repassworded['id']}", headers=admin,
                              json={"password": "another-secret-2"}) as resp:
            assert resp.status == 200
        revoked_after = await _first_refusal(http, b.api_url + "/doctors/me/profile",
                                             pairs[repassworded["id"]]["access_token"], (401, "TOKEN_REVOKED"))
    assert inactive_after < gateway_auth.STALENESS_BOUND and revoked_after < gateway_auth.STALENESS_BOUND, \
        (inactive_after, revoked_after, b.output())


# --- helpers ------------------------------------------------------------------------------

async def _eventually(client, path: str, headers: dict, expected: tuple[int, str | None], within: float) -> bool:
    deadline = time.monotonic() + within + 0.25  # the bound, plus the time a request takes here
    while True:
        got = await _code(await client.get(path, headers=headers))
        if got == expected:
            return True
        if time.monotonic() > deadline:
            pytest.fail(f"still {got} after {within} s, expected {expected}")
        await asyncio.sleep(0.02)
