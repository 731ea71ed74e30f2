"""Server processes die (SIGKILL) or are stopped (SIGTERM) under held streams and sockets.

- SIGKILL: clients reconnect to another process with Last-Event-ID / last_event_id and get every event
  they missed, once each, in order; the relay's leadership moves within 1 s; the sweeper keeps
  ending sessions whose wallet ran out, each billed once, none left ONGOING.
- SIGTERM: the process stops accepting, finishes in-flight requests, ends SSE streams with a short
  `retry` and closes websockets with 1012, all within SHUTDOWN_TIMEOUT.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
import uuid

import aiohttp
import pytest
import sqlalchemy as sa

from gateway.bus_relay import RELAY_LOCK
from tests import factories
from tests.servers import SseReader, start_server
from tests.test_ws_processes import recv_type

STREAM = "/connect/sessions/requests/stream"
_LEADER = sa.text("""
    SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
    AND classid::bigint = :hi AND objid::bigint = :lo
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""")


async def relay_leader(db) -> int | None:
    """The backend pid holding the relay leader's advisory lock (None: no leader)."""
    async with db.connect() as conn:
        return await conn.scalar(_LEADER, {"hi": RELAY_LOCK >> 32, "lo": RELAY_LOCK & 0xFFFFFFFF})


async def eventually(check, timeout: float = 15.0, interval: float = 0.05):
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)


def bearer(settings, role: str, subject: uuid.UUID) -> dict[str, str]:
    return {"Authorization": "Bearer " + factories.access_token(settings, role, subject)}


async def request_session(http, server, settings, db, doctor) -> str:
    patient = await factories.make_user(db)
    await factories.make_wallet(db, patient["id"], 1_000_000)
    async with http.post(server.api_url + "/connect/sessions", headers=bearer(settings, "client", patient["id"]),
                         json={"target_doctor_id": str(doctor["id"]), "symptoms": ["fever"]}) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["session_id"]


async def post_message(http, server, headers, session_id, text: str) -> str:
    async with http.post(f"{server.api_url}/connect/sessions/{session_id}/messages", headers=headers, json={
            "client_message_id": str(uuid.uuid4()), "content_type": "text", "content": text}) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]


async def test_a_killed_process_loses_nothing_its_clients_missed(settings, db):
    doctor, patient = await factories.make_doctor(db), await factories.make_user(db)
    await factories.make_wallet(db, patient["id"], 10_000_000)
    session = await factories.make_session(db, patient["id"], doctor["id"])
    d_auth, p_auth = bearer(settings, "doctor", doctor["id"]), bearer(settings, "client", patient["id"])
    ws_path = f"/connect/sessions/{session['id']}/ws"

    a = await start_server(settings)  # first up: the relay leader
    b = None
    try:
        old_leader = await eventually(lambda: relay_leader(db))
        b = await start_server(settings)
        async with aiohttp.ClientSession() as http:
            # The doctor's console and both sides of the session, all held by A.
            stream = SseReader(await http.get(a.api_url + STREAM, headers=d_auth))
            assert (await stream.next()).event == "connected"
            d_ws = await http.ws_connect(a.api_url + ws_path, headers=d_auth)
            first_request = await request_session(http, b, settings, db, doctor)
            [seen] = await stream.events(1)
            assert seen.data["session_id"] == first_request
            first_message = await post_message(http, b, p_auth, session["id"], "before")
            frame = await recv_type(d_ws, "message.new")
            assert frame["data"]["id"] == first_message
            last_ws_id = frame["id"]

            a.proc.kill()  # SIGKILL: no drain, no goodbye
            await asyncio.to_thread(a.proc.wait)
            killed_at = time.monotonic()
            new_leader = await eventually(lambda: _other_leader(db, old_leader), timeout=10, interval=0.01)
            took = time.monotonic() - killed_at
            assert new_leader != old_leader and took < 1.0, f"relay leadership moved after {took:.2f} s"

            # While the clients are away: three requests to the doctor, three messages to the session.
            requests = [await request_session(http, b, settings, db, doctor) for _ in range(3)]
            messages = [await post_message(http, b, p_auth, session["id"], f"missed {n}") for n in range(3)]

            # They come back on B with their last ids: every missed event once, in order, then live ones.
            resumed = SseReader(await http.get(b.api_url + STREAM, headers={**d_auth, "Last-Event-ID": seen.id}))
            assert (await resumed.next()).event == "connected"
            replay = await resumed.events(3, timeout=10)
            assert [m.data["session_id"] for m in replay] == requests
            assert [m.event for m in replay] == ["session_requested"] * 3
            assert int(seen.id) < int(replay[0].id) < int(replay[1].id) < int(replay[2].id)
            d_ws2 = await http.ws_connect(b.api_url + ws_path + f"?last_event_id={last_ws_id}", headers=d_auth)
            got = [await recv_type(d_ws2, "message.new") for _ in range(3)]
            assert [f["data"]["id"] for f in got] == messages
            assert int(last_ws_id) < int(got[0]["id"]) < int(got[1]["id"]) < int(got[2]["id"])
            # Nothing repeated: the next event on each is the next one written.
            live_request = await request_session(http, b, settings, db, doctor)
            assert [m.data["session_id"] for m in await resumed.events(1, timeout=10)] == [live_request]
            live_message = await post_message(http, b, p_auth, session["id"], "after")
            assert (await recv_type(d_ws2, "message.new"))["data"]["id"] == live_message
            await d_ws2.close()
            await d_ws.close()
    finally:
        await a.stop()
        if b is not None:
            await b.stop()


async def _other_leader(db, old: int) -> int | None:
    leader = await relay_leader(db)
    return leader if leader not in (None, old) else None


async def test_the_sweeper_keeps_billing_after_a_kill_and_bills_each_session_once(settings, db):
    """Six ONGOING sessions whose wallets run out over the next seconds; one of the two processes
    is killed after the first ones ended: the other ends the rest; each is billed exactly once."""
    env = {"SWEEPER_INTERVAL": "0.2"}
    a, b = await start_server(settings, env_overrides=env), None
    try:
        b = await start_server(settings, env_overrides=env)
        doctor = await factories.make_doctor(db)
        now = dt.datetime.now(dt.timezone.utc)
        sessions = []
        for n in range(6):
            patient = await factories.make_user(db)
            await factories.make_wallet(db, patient["id"], 200)  # two minutes at 100 paise a minute
            # Exhausted once billable minutes reach 2, i.e. 60 s after the start: n/2 s from now.
            started = now - dt.timedelta(seconds=60) + dt.timedelta(seconds=0.3 + n * 0.5)
            sessions.append(await factories.make_session(db, patient["id"], doctor["id"], rate_per_minute=100,
                                                         started_at=started))
        ids = [s["id"] for s in sessions]
        await eventually(lambda: _ended_count(db, ids, at_least=2))
        a.proc.kill()
        await asyncio.to_thread(a.proc.wait)
        await eventually(lambda: _ended_count(db, ids, at_least=6), timeout=20)
        async with db.connect() as conn:
            rows = (await conn.execute(sa.text("""
                SELECT s.id, s.status, s.billed_amount,
                       (SELECT count(*) FROM wallet_transactions t WHERE t.reference_type = 'connect_session'
                          AND t.reference_id = s.id::text) AS debits,
                       (SELECT count(*) FROM event_outbox e WHERE e.channel = 'session:' || s.id::text
                          AND e.event_type = 'session.ended') AS ended_events,
                       (SELECT balance FROM wallets w WHERE w.user_id = s.patient_id) AS balance
                FROM connect_sessions s WHERE s.id = ANY(:ids)"""), {"ids": ids})).all()
        assert len(rows) == 6
        for row in rows:
            assert row.status == "ENDED" and row.debits == 1 and row.ended_events == 1, row
            assert row.billed_amount == 200 and row.balance == 0, row
    finally:
        await a.stop()
        if b is not None:
            await b.stop()


async def _ended_count(db, ids, *, at_least: int) -> bool:
    async with db.connect() as conn:
        return await conn.scalar(sa.text("SELECT count(*) FROM connect_sessions WHERE id = ANY(:ids) "
                                         "AND status = 'ENDED'"), {"ids": ids}) >= at_least


async def test_sigterm_drains_streams_to_another_process_and_finishes_in_flight_requests(settings, db):
    doctor, patient = await factories.make_doctor(db), await factories.make_user(db)
    await factories.make_wallet(db, patient["id"], 10_000_000)
    session = await factories.make_session(db, patient["id"], doctor["id"])
    d_auth, p_auth = bearer(settings, "doctor", doctor["id"]), bearer(settings, "client", patient["id"])
    ws_path = f"/connect/sessions/{session['id']}/ws"
    a = await start_server(settings, env_overrides={"SHUTDOWN_TIMEOUT": "5"})
    b = None
    try:
        b = await start_server(settings)
        async with aiohttp.ClientSession() as http:
            stream = SseReader(await http.get(a.api_url + STREAM, headers=d_auth))
            connected = await stream.next()
            p_ws = await http.ws_connect(a.api_url + ws_path, headers=p_auth)
            mine = await post_message(http, b, p_auth, session["id"], "before")
            frame = await recv_type(p_ws, "message.new")
            assert frame["data"]["id"] == mine

            async with db.connect() as locker:  # an in-flight request: it waits on this lock
                await locker.execute(sa.text("LOCK TABLE doctors IN ACCESS EXCLUSIVE MODE"))
                in_flight = asyncio.create_task(http.get(a.api_url + "/doctors/all_doctors_list"))
                await eventually(lambda: _waiting_on_lock(db))
                a.proc.send_signal(signal.SIGTERM)
                # Streams end at once with a hint to come back now; sockets close with 1012.
                last = await stream.next(timeout=5)
                assert last.retry is not None and last.retry <= 1000 and last.raw_data is None
                with pytest.raises(EOFError):
                    await stream.next(timeout=5)
                close = await p_ws.receive(timeout=5)
                assert close.type == aiohttp.WSMsgType.CLOSE and close.data == 1012, close
                # No new connections; the request in flight is still being served.
                with pytest.raises(aiohttp.ClientConnectionError):
                    await http.get(a.base_url + "/healthz")
                assert not in_flight.done() and a.proc.poll() is None
                await locker.rollback()
            resp = await in_flight
            assert resp.status == 200 and isinstance(await resp.json(), list)
            assert await asyncio.to_thread(a.proc.wait, 10) == 0

            # The clients come back on B where they left off.
            later = await post_message(http, b, p_auth, session["id"], "after")
            requested = await request_session(http, b, settings, db, doctor)
            resumed = SseReader(await http.get(b.api_url + STREAM, headers={**d_auth, "Last-Event-ID": connected.id}))
            assert (await resumed.next()).event == "connected"
            assert [m.data["session_id"] for m in await resumed.events(1, timeout=10)] == [requested]
            p_ws2 = await http.ws_connect(b.api_url + ws_path + f"?last_event_id={frame['id']}", headers=p_auth)
            assert (await recv_type(p_ws2, "message.new"))["data"]["id"] == later
            await p_ws2.close()
    finally:
        await a.stop()
        if b is not None:
            await b.stop()


async def _waiting_on_lock(db) -> bool:
    async with db.connect() as conn:
        return bool(await conn.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")))


async def test_sigterm_is_bounded_by_the_shutdown_timeout(settings, db):
    """A request that never finishes is cut off after SHUTDOWN_TIMEOUT; the process still exits."""
    a = await start_server(settings, env_overrides={"SHUTDOWN_TIMEOUT": "1"})
    try:
        async with aiohttp.ClientSession() as http:
            async with db.connect() as locker:
                await locker.execute(sa.text("LOCK TABLE doctors IN ACCESS EXCLUSIVE MODE"))
                in_flight = asyncio.create_task(http.get(a.api_url + "/doctors/all_doctors_list"))
                await eventually(lambda: _waiting_on_lock(db))
                signalled = time.monotonic()
                a.proc.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(a.proc.wait, 15)
                took = time.monotonic() - signalled
                await locker.rollback()
            assert code == 0 and 1.0 <= took < 8.0, (code, took)
            with pytest.raises(aiohttp.ClientError):
                (await in_flight).raise_for_status()
    finally:
        await a.stop()
