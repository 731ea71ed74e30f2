"""PostgreSQL goes away (a private server under ./var that the test stops; never the machine's).

- every endpoint answers 503 DATABASE_UNAVAILABLE with Retry-After (never 500) while it is down, and
  everything answers again once it is back, without a restart;
- a server starts while it is down (migrations, bootstrap admin and demo data follow when it is back);
- held SSE streams and websockets stay open through the outage; the relay, the push worker and the
  sweeper resume afterwards;
- writes cut off by a crash leave nothing half-written; a statement timeout is a 503 too.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid

import aiohttp
import pytest
import sqlalchemy as sa

from gateway import keys
from gateway.auth import REVOCATIONS
from storage.sa_engine import create_engine
from tests import factories
from tests.private_pg import start_postgres
from tests.role_table import EXPECTED
from tests.routes import app_routes, concrete_path
from tests.servers import SseReader, start_server
from tests.test_stream import STREAM
from tests.test_ws_processes import recv_type

ME = "/api/v2/users/me"


@pytest.fixture
async def pg():
    """Listed before `make_client` in a test's arguments, so it outlives the app (torn down after it)."""
    server = await start_postgres()
    yield server
    await server.destroy()


@pytest.fixture
async def private_db(pg):
    """(url, SQLAlchemy engine for arranging and asserting rows) of a migrated database on `pg`."""
    url = await pg.create_database("allign")
    engine = create_engine(url, pool_size=2)
    yield url, engine
    await engine.dispose()


def bearer(settings, role: str, subject: uuid.UUID) -> dict[str, str]:
    return {"Authorization": "Bearer " + factories.access_token(settings, role, subject)}


async def eventually(check, timeout: float = 15.0, interval: float = 0.05):
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)


async def assert_unavailable(resp) -> None:
    assert resp.status == 503, (resp.status, await resp.text())
    assert (await resp.json())["code"] == "DATABASE_UNAVAILABLE"
    assert resp.headers["Retry-After"] == "1"


async def test_every_endpoint_is_a_503_while_postgres_is_down_then_recovers(pg, private_db, make_client, settings,
                                                                            caplog):
    url, engine = private_db
    client = await make_client(database_url=url)
    app = client.server.app
    patient, doctor, admin = (await factories.make_user(engine), await factories.make_doctor(engine),
                              await factories.make_admin(engine))
    session = await factories.make_session(engine, patient["id"], doctor["id"])
    who = {"client": bearer(settings, "client", patient["id"]), "doctor": bearer(settings, "doctor", doctor["id"]),
           "admin": bearer(settings, "admin", admin["id"])}
    assert (await client.get(ME, headers=who["client"])).status == 200

    await pg.stop()
    caplog.set_level(logging.WARNING)
    statuses: dict[str, int] = {}
    for info in app_routes(app):
        rule = EXPECTED.get(info.key)
        roles = sorted(rule) if isinstance(rule, frozenset) else ["client"]
        method = "GET" if info.method in ("*", "HEAD") else info.method
        path = await concrete_path(app, info, {"session_id": str(session["id"])})
        body = {} if method in ("POST", "PUT", "PATCH") else None
        resp = await client.request(method, path, headers=who[roles[0]], json=body, allow_redirects=False)
        statuses[f"{method} {info.path}"] = resp.status
        assert resp.status < 500 or resp.status == 503, (info, resp.status, await resp.text())
        if resp.status == 503 and info.path != "/readyz":  # the probe says what is down, in its own shape
            await assert_unavailable(resp)
    # The role check and body validation come first; whatever needs the database is a 503.
    unavailable = [route for route, status in statuses.items() if status == 503]
    assert len(unavailable) >= len(statuses) // 2, statuses
    for path in (ME, "/api/v2/doctors/search?q=a", "/api/v2/medicines/search?q=dolo",
                 "/api/v2/doctors/all_doctors_list"):
        await assert_unavailable(await client.get(path, headers=who["client"]))
    sent = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "hello"}
    messages = f"/api/v2/connect/sessions/{session['id']}/messages"
    await assert_unavailable(await client.post(messages, headers=who["client"], json=sent))
    await assert_unavailable(await client.post("/api/v2/auth/request-otp", json={"phone": "+919812340001"}))
    await assert_unavailable(await client.get(STREAM, headers=who["doctor"]))  # before any stream header
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(f"/api/v2/connect/sessions/{session['id']}/ws", headers=who["client"])
    assert refused.value.status == 503
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 503
    assert not [r for r in caplog.records if r.name == "allign.http" and r.levelno >= logging.ERROR]

    await pg.start()  # recovers without a restart
    await eventually(lambda: _status_is(client, ME, who["client"], 200))
    resp = await client.post(messages, headers=who["client"], json=sent)
    assert resp.status == 201, await resp.text()
    assert (await client.get("/readyz")).status == 200
    assert app[keys.DB].checked_out() == 0


async def _status_is(client, path: str, headers: dict, status: int) -> bool:
    return (await client.get(path, headers=headers)).status == status


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_server_starts_while_postgres_is_down_and_finishes_its_start_when_it_is_back(settings, pg, workers):
    """Local-mode start (migrations, bootstrap admin, demo data) with PostgreSQL down: the server
    answers /healthz and 503 elsewhere; once PostgreSQL is back it migrates, seeds and serves. With
    workers, the supervisor leaves the migrations to them (their advisory lock runs them once)."""
    url = await pg.create_database("allign", migrate=False)  # empty: the server must migrate it
    await pg.stop()
    env = {"APPLY_MIGRATIONS": "true", "SEED_DEMO_DATA": "true", "ADMIN_BOOTSTRAP_USERNAME": "root",
           "ADMIN_BOOTSTRAP_PASSWORD": "start-while-down-pw", "WORKERS": str(workers)}
    server = await start_server(dataclasses.replace(settings, database_url=url), env_overrides=env,
                                ready_timeout=40)
    login = {"username": "root", "password": "start-while-down-pw"}
    try:
        async with aiohttp.ClientSession() as http:
            for method, path, body in (("GET", "/doctors/all_doctors_list", None),
                                       ("POST", "/admin/auth/login", login),
                                       ("GET", "/medicines/search?q=dolo", None)):
                async with http.request(method, server.api_url + path, json=body) as resp:
                    await assert_unavailable(resp)
            async with http.get(server.base_url + "/readyz") as resp:
                assert resp.status == 503

            await pg.start()

            async def admin_logs_in():
                async with http.post(server.api_url + "/admin/auth/login", json=login) as resp:
                    assert resp.status in (200, 401, 503), await resp.text()
                    return resp.status == 200
            await eventually(admin_logs_in, timeout=30)

            async def demo_doctors():
                async with http.get(server.api_url + "/doctors/all_doctors_list") as resp:
                    return resp.status == 200 and len(await resp.json()) >= 8
            await eventually(demo_doctors, timeout=30)
            async with http.get(server.base_url + "/readyz") as resp:
                assert resp.status == 200
        assert "Traceback" not in server.output(), server.output()
    finally:
        await server.stop()


async def test_held_streams_stay_open_and_background_work_resumes(pg, private_db, make_client, settings):
    url, engine = private_db
    client = await make_client(database_url=url, sweeper_interval=0.2)
    app = client.server.app
    patient, doctor = await factories.make_user(engine), await factories.make_doctor(engine)
    await factories.make_wallet(engine, patient["id"], 10_000_000)  # the sweeper would end the session
    session = await factories.make_session(engine, patient["id"], doctor["id"])
    p_auth, d_auth = bearer(settings, "client", patient["id"]), bearer(settings, "doctor", doctor["id"])
    ws_path = f"/api/v2/connect/sessions/{session['id']}/ws"
    stream = SseReader(await client.get(STREAM, headers=d_auth))
    assert (await stream.next()).event == "connected"
    p_ws = await client.ws_connect(ws_path, headers=p_auth)
    d_ws = await client.ws_connect(ws_path, headers=d_auth)

    await pg.stop()
    view = app[REVOCATIONS]
    # Long enough for the connection reaper to have checked the held tokens twice with a stale view.
    await eventually(lambda: _true(view.age() > 2.5), timeout=20)
    assert not view.current() and not app[keys.BUS].relay.is_leader
    assert app[keys.STREAMS].count() == 3
    await p_ws.send_json({"type": "ping", "id": "p1"})
    assert (await recv_type(p_ws, "pong"))["data"]["ref"] == "p1"
    await p_ws.send_json({"type": "typing", "data": {"is_typing": True}})  # Redis still carries these
    assert (await recv_type(d_ws, "typing"))["data"]["from"] == "patient"
    body = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "during the outage"}
    await p_ws.send_json({"type": "message.send", "id": "m1", "data": body})
    error = await recv_type(p_ws, "error")
    assert error["data"]["status"] == 503 and error["data"]["code"] == "DATABASE_UNAVAILABLE"

    await pg.start()
    await engine.dispose()  # the test's own pooled connections died with the server
    # The same socket sends again: stored once, relayed to the other side (the relay is back).
    ack = await _ack_or_retry(p_ws, body)
    assert (await recv_type(d_ws, "message.new"))["data"]["id"] == ack["data"]["message"]["id"]
    # The held SSE stream gets a new request; the sweeper expires a lapsed one; pushes go out.
    other, third = await factories.make_user(engine), await factories.make_user(engine)
    await factories.make_wallet(engine, other["id"], 1_000_000)
    created = await client.post("/api/v2/connect/sessions", headers=bearer(settings, "client", other["id"]),
                                json={"target_doctor_id": str(doctor["id"]), "symptoms": ["fever"]})
    assert created.status == 201, await created.text()
    requested = await stream.events(1, timeout=10)
    assert requested[0].data["session_id"] == (await created.json())["session_id"]
    lapsed = await factories.make_session(engine, third["id"], doctor["id"], status="REQUESTED",
                                          expires_at=sa.func.now() - sa.text("interval '1 second'"))
    await eventually(lambda: _session_status(engine, lapsed["id"], "EXPIRED"))
    await eventually(lambda: _no_pending_pushes(engine))
    for ws in (p_ws, d_ws):
        await ws.close()


async def _true(value: bool) -> bool:
    return value


async def _ack_or_retry(ws, body) -> dict:
    """Send `body` until it is acknowledged (same client_message_id: stored once), as a client does
    after a 503 error frame."""
    async with asyncio.timeout(20):
        while True:
            await ws.send_json({"type": "message.send", "id": "again", "data": body})
            while True:
                frame = (await ws.receive()).json()
                if frame["type"] in ("ack", "error"):
                    break
            if frame["type"] == "ack":
                return frame
            assert frame["data"]["code"] == "DATABASE_UNAVAILABLE", frame
            await asyncio.sleep(0.1)


async def _session_status(engine, session_id, status: str) -> bool:
    async with engine.connect() as conn:
        return await conn.scalar(sa.text("SELECT status FROM connect_sessions WHERE id = :id"),
                                 {"id": session_id}) == status


async def _no_pending_pushes(engine) -> bool:
    async with engine.connect() as conn:
        return not await conn.scalar(sa.text("SELECT count(*) FROM notifications WHERE status = 'PENDING'"))


async def test_writes_cut_off_by_a_crash_leave_nothing_half_written(pg, private_db, make_client, settings):
    """Senders keep posting (retrying the same client_message_id after a 503) while PostgreSQL
    crashes and comes back: every message is stored once, with exactly one event, all relayed;
    no answer is a 500."""
    url, engine = private_db
    client = await make_client(database_url=url)
    patient, doctor = await factories.make_user(engine), await factories.make_doctor(engine)
    session = await factories.make_session(engine, patient["id"], doctor["id"])
    path = f"/api/v2/connect/sessions/{session['id']}/messages"
    headers = bearer(settings, "client", patient["id"])
    stored, refused, statuses = [0], [0], set()

    async def sender(n: int) -> list[str]:
        ids = []
        for i in range(8):
            body = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": f"{n}-{i}"}
            while True:
                resp = await client.post(path, headers=headers, json=body)
                statuses.add(resp.status)
                if resp.status in (200, 201):
                    stored[0] += 1
                    ids.append(body["client_message_id"])
                    break
                assert resp.status == 503, await resp.text()
                refused[0] += 1
                await asyncio.sleep(0.05)
        return ids

    senders = [asyncio.create_task(sender(n)) for n in range(6)]
    await eventually(lambda: _true(stored[0] >= 10))
    await pg.stop(mode="immediate")  # a crash, mid-traffic
    await eventually(lambda: _true(refused[0] >= 6))
    await pg.start()
    await engine.dispose()
    sent = [i for ids in await asyncio.gather(*senders) for i in ids]
    assert len(sent) == 48 and statuses <= {200, 201, 503}
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.text(
            "SELECT client_message_id::text AS cid, count(*) AS n FROM messages GROUP BY 1"))).all()
        assert {r.cid for r in rows} == set(sent) and all(r.n == 1 for r in rows)
    app = client.server.app

    async def all_relayed() -> bool:
        async with engine.connect() as conn:
            events = (await conn.execute(sa.text(
                "SELECT count(*) AS n, count(published_at) AS published, count(DISTINCT data->>'id') AS distinct_ids "
                "FROM event_outbox WHERE event_type = 'message.new'"))).one()
        return events.n == events.published == events.distinct_ids == 48
    app[keys.BUS].relay.wake()
    await eventually(all_relayed, timeout=20)


async def test_a_statement_timeout_is_a_503(pg, private_db, make_client, settings):
    url, engine = private_db
    async with engine.begin() as conn:
        await conn.execute(sa.text("ALTER DATABASE allign SET statement_timeout = '300ms'"))
    client = await make_client(database_url=url)
    patient = await factories.make_user(engine)
    await factories.make_doctor(engine)
    headers = bearer(settings, "client", patient["id"])
    assert (await client.get("/api/v2/doctors/all_doctors_list", headers=headers)).status == 200
    async with engine.connect() as locker:
        await locker.execute(sa.text("LOCK TABLE doctors IN ACCESS EXCLUSIVE MODE"))
        resp = await client.get("/api/v2/doctors/all_doctors_list", headers=headers)
        await assert_unavailable(resp)
        await locker.rollback()
    assert (await client.get("/api/v2/doctors/all_doctors_list", headers=headers)).status == 200
