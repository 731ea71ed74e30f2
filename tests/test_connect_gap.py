"""Nothing published after a client is told it is connected is lost (issue: the first message of a
consultation vanished). Two real processes; every round uses fresh sockets on a fresh channel, so
the receiving process has to subscribe to Redis while the sender is already sending."""
from __future__ import annotations

import asyncio
import uuid

import aiohttp

from tests import factories
from tests.servers import SseReader
from tests.test_ws_processes import recv_type

ROUNDS = 200
CONCURRENT = 20


async def test_first_message_after_both_sockets_connect_always_arrives(servers, settings, db):
    """As the load run that found it: many consultations at once keep both processes busy, so the
    doctor's process subscribes while the patient's first message is already on its way."""
    a, b = servers
    doctor = await factories.make_doctor(db)
    d_auth = {"Authorization": "Bearer " + factories.access_token(settings, "doctor", doctor["id"])}
    patients = [await factories.make_user(db) for _ in range(ROUNDS)]
    for patient in patients:
        await factories.make_wallet(db, patient["id"], 100_000)  # else the balance watch ends it
    sessions = [await factories.make_session(db, p["id"], doctor["id"]) for p in patients]
    missed: list[int] = []
    gate = asyncio.Semaphore(CONCURRENT)

    async def consultation(http: aiohttp.ClientSession, n: int) -> None:
        p_auth = {"Authorization": "Bearer " + factories.access_token(settings, "client", patients[n]["id"])}
        path = f"/connect/sessions/{sessions[n]['id']}/ws"
        async with gate:
            p_ws, d_ws = await asyncio.gather(http.ws_connect(a.api_url + path, headers=p_auth),
                                              http.ws_connect(b.api_url + path, headers=d_auth))
            body = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": f"hello {n}"}
            await p_ws.send_json({"type": "message.send", "id": "m", "data": body})
            ack = await recv_type(p_ws, "ack")
            assert ack["data"]["status"] == 201, ack
            try:
                got = await recv_type(d_ws, "message.new", timeout=5.0)
                assert got["data"]["id"] == ack["data"]["message"]["id"]
                assert got["id"]  # a durable event: the doctor's resume cursor moves
            except TimeoutError:
                missed.append(n)
            await p_ws.close()
            await d_ws.close()

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(consultation(http, n) for n in range(ROUNDS)))
    assert missed == [], f"{len(missed)} of {ROUNDS} first messages never reached the doctor"


async def test_request_made_right_after_the_stream_opens_always_arrives(servers, settings, db):
    """The console's stream on A, the patient's request through B as soon as the stream's headers
    are in: the request arrives (live or in the snapshot), exactly once."""
    a, b = servers
    doctors = [await factories.make_doctor(db) for _ in range(ROUNDS)]
    patients = [await factories.make_user(db) for _ in range(ROUNDS)]
    for patient in patients:
        await factories.make_wallet(db, patient["id"], 100_000)
    missed: list[int] = []
    gate = asyncio.Semaphore(CONCURRENT)

    async def console(http: aiohttp.ClientSession, n: int) -> None:
        token = factories.access_token(settings, "doctor", doctors[n]["id"])
        p_auth = {"Authorization": "Bearer " + factories.access_token(settings, "client", patients[n]["id"])}
        async with gate:
            resp = await http.get(a.api_url + "/connect/sessions/requests/stream", params={"access_token": token})
            assert resp.status == 200
            reader = SseReader(resp)
            async with http.post(b.api_url + "/connect/sessions", headers=p_auth,
                                 json={"target_doctor_id": str(doctors[n]["id"])}) as created:
                assert created.status == 201, await created.text()
                session_id = (await created.json())["session_id"]
            try:
                assert (await reader.next(timeout=5.0)).event == "connected"
                requested = await reader.next(timeout=5.0)
                assert (requested.event, requested.data["session_id"]) == ("session_requested", session_id)
            except TimeoutError:
                missed.append(n)
            resp.close()

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(console(http, n) for n in range(ROUNDS)))
    assert missed == [], f"{len(missed)} of {ROUNDS} requests never reached the doctor's fresh stream"
