"""Two real server processes: the patient's socket on A, the doctor's on B. Messages and receipts
cross between them through the bus; an outsider can neither connect nor read; concurrent retries
of one send spread over both processes store one message."""
from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
import sqlalchemy as sa

from storage.tables import messages
from tests import factories


async def recv_type(ws, type_, timeout=10.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame = msg.json()
            if frame["type"] == type_:
                return frame


async def frames_until_pong(ws, ref) -> list[dict]:
    """Everything the socket got before the pong to our ping `ref` (a fence)."""
    await ws.send_json({"type": "ping", "id": ref})
    out = []
    async with asyncio.timeout(10):
        while True:
            frame = (await ws.receive()).json()
            if frame["type"] == "pong" and frame["data"]["ref"] == ref:
                return out
            out.append(frame)


async def test_two_participants_on_two_processes(servers, settings, db):
    a, b = servers
    patient = await factories.make_user(db, full_name="Rahul")
    doctor = await factories.make_doctor(db, full_name="Dr. Asha")
    stranger = await factories.make_user(db)
    session = await factories.make_session(db, patient["id"], doctor["id"])
    p_auth = {"Authorization": "Bearer " + factories.access_token(settings, "client", patient["id"])}
    d_auth = {"Authorization": "Bearer " + factories.access_token(settings, "doctor", doctor["id"])}
    s_auth = {"Authorization": "Bearer " + factories.access_token(settings, "client", stranger["id"])}
    path = f"/connect/sessions/{session['id']}"
    async with aiohttp.ClientSession() as http:
        p_ws = await http.ws_connect(a.api_url + path + "/ws", headers=p_auth)
        d_ws = await http.ws_connect(b.api_url + path + "/ws", headers=d_auth)

        # Patient (on A) → doctor (on B), over the socket.
        body = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "Hello from A"}
        await p_ws.send_json({"type": "message.send", "id": "m1", "data": body})
        ack = await recv_type(p_ws, "ack")
        assert ack["data"]["status"] == 201
        sent = ack["data"]["message"]
        got = await recv_type(d_ws, "message.new")
        assert got["data"]["id"] == sent["id"] and got["data"]["content"] == "Hello from A"

        # Receipts flow back from B to A.
        await d_ws.send_json({"type": "message.delivered", "id": "d1", "data": {"message_ids": [sent["id"]]}})
        assert (await recv_type(p_ws, "message.delivered"))["data"]["message_ids"] == [sent["id"]]
        await d_ws.send_json({"type": "message.read", "id": "r1", "data": {"message_ids": [sent["id"]]}})
        assert (await recv_type(p_ws, "message.read"))["data"]["message_ids"] == [sent["id"]]

        # Doctor answers over REST on A; the patient's socket (also A) and the doctor's (B) both see it.
        async with http.post(a.api_url + path + "/messages", headers=d_auth, json={
                "client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "Reply"}) as resp:
            assert resp.status == 201
            reply = await resp.json()
        assert (await recv_type(p_ws, "message.new"))["data"]["id"] == reply["id"]
        assert (await recv_type(d_ws, "message.new"))["data"]["id"] == reply["id"]

        # Typing crosses processes too, and is not echoed to its sender.
        await d_ws.send_json({"type": "typing", "data": {"is_typing": True}})
        typing = await recv_type(p_ws, "typing")
        assert typing["data"]["from"] == "doctor"

        # The outsider: no socket, no history, on either process.
        for server in (a, b):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(server.api_url + path + "/ws", headers=s_auth)
            assert err.value.status == 404
            async with http.get(server.api_url + path + "/messages", headers=s_auth) as resp:
                assert resp.status == 404

        # One send retried concurrently on both processes: one row, one event.
        retry = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "Once"}

        async def post(server):
            async with http.post(server.api_url + path + "/messages", headers=p_auth, json=retry) as resp:
                return resp.status, (await resp.json())["id"]

        results = await asyncio.gather(*(post(a if n % 2 else b) for n in range(12)))
        assert sorted(status for status, _ in results) == [200] * 11 + [201]
        assert len({message_id for _, message_id in results}) == 1
        first = await recv_type(d_ws, "message.new")
        assert first["data"]["id"] == results[0][1]
        assert [f for f in await frames_until_pong(d_ws, "fence") if f["type"] == "message.new"] == []

        await p_ws.close()
        await d_ws.close()
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(messages)) == 3
