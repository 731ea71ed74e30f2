"""Two real server processes (`python run.py`) on one database and one Redis: a doctor's stream on
process A receives what is written elsewhere and relayed by process B; A takes over the relay when
B stops; A notices a client that went away (no handler cancellation in production)."""
from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from aiohttp import web

from gateway import keys
from tests import factories
from tests.servers import SseReader, start_server
from tests.test_stream import STREAM, remove_session, request_session



def outbox_writer(pool) -> web.Application:
    """Just enough of an app for gateway.tx.transaction: the database, no bus of its own, so only
    the server processes can relay what it writes (found by the leader's poll)."""
    app = web.Application()
    app[keys.DB] = pool
    return app


async def metric(http: aiohttp.ClientSession, server, name: str, labels: str = "") -> float:
    async with http.get(server.base_url + "/metrics") as resp:
        text = await resp.text()
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def eventually(check, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def test_stream_on_one_process_gets_events_relayed_by_another(settings, db, pool):
    doctor = await factories.make_doctor(db)
    patients = [await factories.make_user(db) for _ in range(3)]
    writer = outbox_writer(pool)
    token = factories.access_token(settings, "doctor", doctor["id"])
    published = ("allign_events_published_total", '{channel_kind="doctor"}')

    b = await start_server(settings)  # first up: it takes the relay lead
    a = None
    try:
        async with aiohttp.ClientSession() as http:
            await eventually(lambda: _leader_elected(db))
            a = await start_server(settings)
            resp = await http.get(a.api_url + STREAM.removeprefix("/api/v2"), params={"access_token": token})
            assert resp.status == 200
            reader = SseReader(resp)
            assert (await reader.next()).data == {"doctor_id": str(doctor["id"])}

            item = await request_session(writer, doctor, patients[0])
            [msg] = await reader.events(1, timeout=10)
            assert (msg.event, msg.data) == ("session_requested", item)
            await remove_session(writer, doctor, item["session_id"], "EXPIRED")
            [gone] = await reader.events(1, timeout=10)
            assert gone.data == {"session_id": item["session_id"], "status": "EXPIRED"}
            assert int(gone.id) > int(msg.id)
            # B relayed both, A delivered both.
            assert await metric(http, b, *published) == 2
            assert await metric(http, a, *published) == 0
            assert await metric(http, a, "allign_events_delivered_total", '{transport="sse"}') == 2

            # B stops: A takes over the relay at once, the stream goes on.
            await b.stop()
            later = await request_session(writer, doctor, patients[1])
            [msg] = await reader.events(1, timeout=10)
            assert msg.data == later
            assert await metric(http, a, *published) == 1

            # The client goes away: A notices without any write and frees the stream.
            assert await metric(http, a, "allign_sse_connections") == 1
            resp.close()
            await eventually(lambda: _is_zero(metric(http, a, "allign_sse_connections")), timeout=5)
    finally:
        await b.stop()
        if a is not None:
            await a.stop()


async def _leader_elected(db) -> bool:
    import sqlalchemy as sa
    async with db.connect() as conn:
        return bool(await conn.scalar(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())")))


async def _is_zero(value) -> bool:
    return await value == 0


async def test_session_endpoints_on_one_process_reach_the_stream_on_another(settings, db):
    """End to end: the patient's POST /connect/sessions and the doctor's reject go to process B,
    the doctor's console listens on process A."""
    import sqlalchemy as sa
    from storage.tables import wallets
    doctor = await factories.make_doctor(db)
    patient = await factories.make_user(db)
    async with db.begin() as conn:
        await conn.execute(sa.insert(wallets).values(user_id=patient["id"], balance=1_000_000))
    doctor_token = factories.access_token(settings, "doctor", doctor["id"])
    patient_headers = {"Authorization": f"Bearer {factories.access_token(settings, 'client', patient['id'])}"}

    a, b = await start_server(settings), await start_server(settings)
    try:
        async with aiohttp.ClientSession() as http:
            resp = await http.get(a.api_url + "/connect/sessions/requests/stream",
                                  headers={"Authorization": f"Bearer {doctor_token}"})
            reader = SseReader(resp)
            assert (await reader.next()).event == "connected"
            async with http.post(b.api_url + "/connect/sessions", headers=patient_headers,
                                 json={"target_doctor_id": str(doctor["id"]), "symptoms": ["cough"]}) as created:
                assert created.status == 201, await created.text()
                session_id = (await created.json())["session_id"]
            [msg] = await reader.events(1, timeout=10)
            assert msg.event == "session_requested"
            assert msg.data["session_id"] == session_id and msg.data["symptoms"] == ["cough"]
            assert msg.data["patient"]["user_id"] == str(patient["id"])
            async with http.post(b.api_url + f"/connect/sessions/{session_id}/reject",
                                 headers={"Authorization": f"Bearer {doctor_token}"}) as rejected:
                assert rejected.status == 200, await rejected.text()
            [gone] = await reader.events(1, timeout=10)
            assert (gone.event, gone.data) == ("session_request_removed",
                                               {"session_id": session_id, "status": "REJECTED"})
            # SIGTERM with the stream open: the stream ends cleanly, after a short `retry` (come back
            # at once, to another process), and the process exits 0.
            assert await a.stop() == 0
            last = await reader.next(timeout=5)
            assert last.retry is not None and last.retry <= 1000 and last.raw_data is None
            with pytest.raises(EOFError):
                await reader.next(timeout=5)
    finally:
        await a.stop()
        await b.stop()


async def test_the_server_never_logs_a_query_string_token(settings, db):
    """run.py runs without an access log and nothing on the stream's path logs the URL."""
    import datetime as dt
    doctor = await factories.make_doctor(db)
    token = factories.access_token(settings, "doctor", doctor["id"])
    expired = factories.access_token(settings, "doctor", doctor["id"],
                                     now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2))
    server = await start_server(settings, env_overrides={"LOG_LEVEL": "DEBUG"})
    try:
        async with aiohttp.ClientSession() as http:
            resp = await http.get(server.api_url + "/connect/sessions/requests/stream", params={"access_token": token})
            assert (await SseReader(resp).next()).event == "connected"
            resp.close()
            async with http.get(server.api_url + "/connect/sessions/requests/stream",
                                params={"access_token": expired}) as refused:
                assert refused.status == 401
            # Both requests are over on the server (the refusal answered, the stream's handler past
            # its connection's end): whatever they logged is written before this answer.
            async with asyncio.timeout(10):
                while "allign_sse_connections 0.0" not in await (await http.get(server.base_url + "/metrics")).text():
                    await asyncio.sleep(0.05)
        output = server.output()
        assert "DEBUG" in output  # the log is on, at its most verbose
        assert token not in output and expired not in output and "access_token" not in output
    finally:
        await server.stop()
