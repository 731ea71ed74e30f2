"""The session websocket on one process: refusals before the upgrade, frames both ways, resume,
session end, abuse, heartbeat. (Two processes: tests/test_ws_processes.py; slow clients:
tests/test_ws_slow.py.)"""
from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
import sqlalchemy as sa

from gateway import keys
from storage import driver
from storage.tables import event_outbox, messages
from tests import factories


@pytest.fixture
async def pair(db):
    patient, doctor, session = await factories.make_participants(db, "Rahul", "Dr. Asha")
    await factories.make_wallet(db, patient["id"], 100_000)
    return patient, doctor, session


def ws_path(session, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/v2/connect/sessions/{session['id']}/ws" + (f"?{q}" if q else "")


def msg_url(session, suffix=""):
    return f"/api/v2/connect/sessions/{session['id']}/messages{suffix}"


async def recv(ws, timeout=5.0) -> dict:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return msg.json()


async def recv_type(ws, type_, timeout=5.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = await recv(ws)
            if frame["type"] == type_:
                return frame


async def expect_close(ws, timeout=5.0):
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return ws.close_code, msg.extra


async def all_marked_published(app, timeout=5.0) -> None:
    """The relay marks outbox rows published just after it sent them (the frames may be here first)."""
    async with asyncio.timeout(timeout):
        while True:
            async with app[keys.DB].connect() as conn:
                left = await driver.fetchval(conn, "SELECT count(*) FROM event_outbox WHERE published_at IS NULL")
            if not left:
                return
            await asyncio.sleep(0.01)


def text(body="Hello", cid=None):
    return {"client_message_id": str(cid or uuid.uuid4()), "content_type": "text", "content": body}


async def _status_of(client, path, **kwargs):
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.ws_connect(path, **kwargs)
    return err.value.status


async def test_refused_before_upgrade(make_client, db, auth, settings, pair):
    patient, doctor, session = pair
    client = await make_client(cors_allowed_origins=("https://console.allign.in",))
    assert await _status_of(client, ws_path(session)) == 401
    stranger = await factories.make_user(db)
    assert await _status_of(client, ws_path(session), headers=auth("client", stranger["id"])) == 404
    other_doctor = await factories.make_doctor(db)
    assert await _status_of(client, ws_path(session), headers=auth("doctor", other_doctor["id"])) == 404
    admin = await factories.make_admin(db)
    assert await _status_of(client, ws_path(session), headers=auth("admin", admin["id"])) == 403
    assert await _status_of(client, f"/api/v2/connect/sessions/{uuid.uuid4()}/ws",
                            headers=auth("client", patient["id"])) == 404
    assert await _status_of(client, ws_path(session, access_token="garbage")) == 401
    evil = {**auth("client", patient["id"]), "Origin": "https://evil.example"}
    assert await _status_of(client, ws_path(session), headers=evil) == 403
    good = {**auth("client", patient["id"]), "Origin": "https://console.allign.in"}
    ws = await client.ws_connect(ws_path(session), headers=good)
    await ws.close()
    # Native apps send no Origin at all.
    ws = await client.ws_connect(ws_path(session), headers=auth("doctor", doctor["id"]))
    await ws.close()


async def test_token_by_query_or_subprotocol(client, settings, pair):
    patient, doctor, session = pair
    token = factories.access_token(settings, "client", patient["id"])
    ws = await client.ws_connect(ws_path(session, access_token=token))
    await ws.send_json({"type": "ping", "id": "p1"})
    assert (await recv(ws))["data"]["ref"] == "p1"
    await ws.close()
    ws = await client.ws_connect(ws_path(session), protocols=("bearer", token))
    assert ws.protocol == "bearer"
    await ws.send_json({"type": "ping", "id": 7})
    pong = await recv(ws)
    assert pong["type"] == "pong" and pong["data"]["ref"] == 7 and pong["id"] is None
    await ws.close()


async def test_messages_and_receipts_flow_between_participants(client, db, auth, pair):
    patient, doctor, session = pair
    p_ws = await client.ws_connect(ws_path(session), headers=auth("client", patient["id"]))
    d_ws = await client.ws_connect(ws_path(session), headers=auth("doctor", doctor["id"]))
    resp = await client.post(msg_url(session), json=text("Over REST"), headers=auth("client", patient["id"]))
    sent = await resp.json()
    new = await recv_type(d_ws, "message.new")
    assert new["data"]["id"] == sent["id"] and new["data"]["content"] == "Over REST" and new["id"].isdigit()
    assert (await recv_type(p_ws, "message.new"))["data"]["id"] == sent["id"]  # the sender's other devices
    # The doctor answers over the socket and acknowledges delivery and reading.
    body = text("Over the socket")
    await d_ws.send_json({"type": "message.send", "id": "r-1", "data": body})
    ack = await recv_type(d_ws, "ack")
    assert ack["data"]["ref"] == "r-1" and ack["data"]["status"] == 201
    reply = ack["data"]["message"]
    assert reply["sender_role"] == "doctor" and reply["content"] == "Over the socket"
    got = await recv_type(p_ws, "message.new")
    assert got["data"]["id"] == reply["id"]
    await d_ws.send_json({"type": "ping", "id": "fence-d"})
    while (frame := await recv(d_ws))["type"] != "pong":  # the ack was the sender's copy: no echo
        assert not (frame["type"] == "message.new" and frame["data"]["id"] == reply["id"])
    await d_ws.send_json({"type": "message.send", "id": "r-1-again", "data": body})  # a retry
    again = await recv_type(d_ws, "ack")
    assert again["data"]["status"] == 200 and again["data"]["message"]["id"] == reply["id"]
    await d_ws.send_json({"type": "message.delivered", "id": "d", "data": {"message_ids": [sent["id"]]}})
    assert (await recv_type(d_ws, "ack"))["data"]["updated"] == 1
    delivered = await recv_type(p_ws, "message.delivered")
    assert delivered["data"]["message_ids"] == [sent["id"]] and delivered["data"]["by"] == "doctor"
    await d_ws.send_json({"type": "message.read", "id": "r", "data": {"message_ids": [sent["id"]]}})
    read = await recv_type(p_ws, "message.read")
    assert read["data"]["message_ids"] == [sent["id"]] and read["data"]["read_at"]
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(messages)) == 2
    # Exactly one message.new for the retried send reached the patient.
    await p_ws.send_json({"type": "ping", "id": "fence"})
    frames = []
    while (frame := await recv(p_ws))["type"] != "pong":
        frames.append(frame)
    assert [f for f in frames if f["type"] == "message.new"] == []
    await p_ws.close()
    await d_ws.close()


async def test_socket_errors_do_not_close(client, db, auth):
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    waiting = await factories.make_session(db, patient["id"], doctor["id"], status="REQUESTED")
    ws = await client.ws_connect(ws_path(waiting), headers=auth("client", patient["id"]))
    await ws.send_json({"type": "message.send", "id": 1, "data": text()})
    err = await recv_type(ws, "error")
    assert err["data"] == {"ref": 1, "status": 409, "code": "SESSION_NOT_ONGOING",
                           "detail": "Messages can only be sent while the session is ongoing"}
    async with db.connect() as conn:  # refused: nothing stored, nothing to deliver
        assert await conn.scalar(sa.select(sa.func.count()).select_from(messages)) == 0
        assert await conn.scalar(sa.select(sa.func.count()).select_from(event_outbox)) == 0
    await ws.send_json({"type": "message.send", "id": 2, "data": {"content_type": "text"}})
    err = await recv_type(ws, "error")
    assert err["data"]["status"] == 422 and err["data"]["code"] == "VALIDATION_ERROR"
    assert {tuple(e["loc"]) for e in err["data"]["detail"]} == {("data", "client_message_id"), ("data", "content")}
    await ws.send_json({"type": "ping", "id": 3})
    assert (await recv_type(ws, "pong"))["data"]["ref"] == 3
    await ws.close()


async def test_typing_reaches_only_the_other_party_and_is_not_stored(client, db, auth, pair):
    patient, doctor, session = pair
    p_ws = await client.ws_connect(ws_path(session), headers=auth("client", patient["id"]))
    # Subscribed before the handshake completed: an ephemeral event right after connecting arrives.
    d_ws = await client.ws_connect(ws_path(session), headers=auth("doctor", doctor["id"]))
    await p_ws.send_json({"type": "typing", "data": {"is_typing": True}})
    typing = await recv_type(d_ws, "typing")
    assert typing["data"] == {"session_id": str(session["id"]), "from": "patient", "is_typing": True}
    assert typing["id"] is None
    await p_ws.send_json({"type": "ping", "id": "fence"})
    while (frame := await recv(p_ws))["type"] != "pong":
        assert frame["type"] != "typing"
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(event_outbox)) == 0
    await p_ws.close()
    await d_ws.close()


async def test_bad_frames_get_errors_and_repeated_abuse_closes(client, auth, pair):
    patient, _, session = pair
    ws = await client.ws_connect(ws_path(session), headers=auth("client", patient["id"]))
    await ws.send_str("not json")
    assert (await recv_type(ws, "error"))["data"]["code"] == "INVALID_JSON"
    await ws.send_json({"type": "launch.missiles"})
    assert (await recv_type(ws, "error"))["data"]["code"] == "UNKNOWN_TYPE"
    await ws.send_json({"type": "ping", "data": "x" * (70 * 1024)})
    assert (await recv_type(ws, "error"))["data"]["code"] == "FRAME_TOO_LARGE"
    await ws.send_bytes(b"\x00\x01")
    assert (await recv_type(ws, "error"))["data"]["code"] == "BINARY_NOT_SUPPORTED"
    await ws.send_json([1, 2])
    assert (await recv_type(ws, "error"))["data"]["code"] == "INVALID_FRAME"
    for _ in range(5):
        await ws.send_str("{")
    code, reason = await expect_close(ws)
    assert code == 1008 and reason == "too_many_bad_frames"


async def test_session_end_is_delivered_then_closed(client, auth, pair):
    patient, doctor, session = pair
    p_ws = await client.ws_connect(ws_path(session), headers=auth("client", patient["id"]))
    d_ws = await client.ws_connect(ws_path(session), headers=auth("doctor", doctor["id"]))
    resp = await client.post(f"/api/v2/connect/sessions/{session['id']}/end", json={"reason": "completed"},
                             headers=auth("doctor", doctor["id"]))
    assert resp.status == 200, await resp.text()
    for ws in (p_ws, d_ws):
        ended = await recv_type(ws, "session.ended")
        assert ended["data"]["session_id"] == str(session["id"]) and ended["id"].isdigit()
        assert await expect_close(ws) == (1000, "session_ended")
    # Connecting afterwards: the end at once, then the close.
    ws = await client.ws_connect(ws_path(session), headers=auth("client", patient["id"]))
    ended = await recv(ws)
    assert ended["type"] == "session.ended" and ended["data"]["status"] == "ENDED"
    assert await expect_close(ws) == (1000, "session_ended")


async def test_resume_replays_what_was_missed(client, auth, pair):
    patient, doctor, session = pair
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    d_ws = await client.ws_connect(ws_path(session), headers=d)
    first = await (await client.post(msg_url(session), json=text("one"), headers=p)).json()
    seen = await recv_type(d_ws, "message.new")
    await d_ws.close()
    missed = [await (await client.post(msg_url(session), json=text(t), headers=p)).json() for t in ("two", "three")]
    d_ws = await client.ws_connect(ws_path(session, last_event_id=seen["id"]), headers=d)
    replay = [await recv_type(d_ws, "message.new"), await recv_type(d_ws, "message.new")]
    assert [f["data"]["id"] for f in replay] == [m["id"] for m in missed]
    assert int(replay[0]["id"]) > int(seen["id"]) and int(replay[1]["id"]) > int(replay[0]["id"])
    live = await (await client.post(msg_url(session), json=text("four"), headers=p)).json()
    assert (await recv_type(d_ws, "message.new"))["data"]["id"] == live["id"]
    await d_ws.close()
    # The same with a `resume` frame as the first thing on a fresh socket.
    d_ws = await client.ws_connect(ws_path(session), headers=d)
    await d_ws.send_json({"type": "resume", "data": {"last_event_id": seen["id"]}})
    replay = [(await recv_type(d_ws, "message.new"))["data"]["id"] for _ in range(3)]
    assert replay == [m["id"] for m in missed] + [live["id"]]
    assert first["id"] not in replay
    await d_ws.close()


async def test_resume_without_an_id_goes_on_from_where_the_socket_was(client, auth, pair):
    """A `resume` frame with no usable id restarts the subscription from this socket's own position:
    a message committed while it restarts is delivered, one already delivered is not sent again."""
    patient, doctor, session = pair
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    d_ws = await client.ws_connect(ws_path(session), headers=d)
    first = await (await client.post(msg_url(session), json=text("one"), headers=p)).json()
    assert (await recv_type(d_ws, "message.new"))["data"]["id"] == first["id"]
    await d_ws.send_json({"type": "resume", "data": {}})
    second = await (await client.post(msg_url(session), json=text("two"), headers=p)).json()
    await d_ws.send_json({"type": "resume", "data": {"last_event_id": "not-an-id"}})
    third = await (await client.post(msg_url(session), json=text("three"), headers=p)).json()
    got = [(await recv_type(d_ws, "message.new"))["data"]["id"] for _ in range(2)]
    assert got == [second["id"], third["id"]]
    await d_ws.send_json({"type": "ping", "id": "fence"})
    while (frame := await recv(d_ws))["type"] != "pong":
        assert frame["type"] != "message.new", frame  # nothing twice
    await d_ws.close()


async def test_resume_beyond_the_history_comes_from_the_database(make_client, auth, pair):
    patient, doctor, session = pair
    client = await make_client(event_history_len=1)
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    d_ws = await client.ws_connect(ws_path(session), headers=d)
    sent = [await (await client.post(msg_url(session), json=text(t), headers=p)).json() for t in ("a", "b", "c")]
    frames = [await recv_type(d_ws, "message.new") for _ in sent]
    await d_ws.close()
    bus = client.server.app[keys.BUS]
    await all_marked_published(client.server.app)
    await bus.prune_outbox(older_than=0)  # the outbox no longer reaches back either
    d_ws = await client.ws_connect(ws_path(session, last_event_id=frames[0]["id"]), headers=d)
    replay = [await recv(d_ws) for _ in range(4)]
    assert [f["type"] for f in replay] == ["message.new"] * 3 + ["video.permission"]
    assert [f["data"]["id"] for f in replay[:3]] == [m["id"] for m in sent]
    assert len({f["id"] for f in replay}) == 1 and int(replay[0]["id"]) >= int(frames[-1]["id"])
    assert replay[3]["data"]["video_permission_state"] == "NOT_ALLOWED"
    await d_ws.close()


async def test_resume_into_an_ended_session(client, auth, pair):
    patient, doctor, session = pair
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    d_ws = await client.ws_connect(ws_path(session), headers=d)
    await client.post(msg_url(session), json=text("one"), headers=p)
    seen = await recv_type(d_ws, "message.new")
    await d_ws.close()
    later = await (await client.post(msg_url(session), json=text("two"), headers=p)).json()
    await client.post(f"/api/v2/connect/sessions/{session['id']}/end", json={}, headers=p)
    d_ws = await client.ws_connect(ws_path(session, last_event_id=seen["id"]), headers=d)
    frames = []
    while (frame := await recv(d_ws))["type"] != "session.ended":
        frames.append(frame)
    assert later["id"] in [f["data"]["id"] for f in frames if f["type"] == "message.new"]
    assert frames[-1]["type"] == "video.permission"
    assert await expect_close(d_ws) == (1000, "session_ended")


async def test_unanswered_heartbeat_closes_and_metrics_count(make_client, auth, pair):
    patient, doctor, session = pair
    # A ping every 0.5 s, each closing the socket unless its pong is back within 0.25 s.
    client = await make_client(ws_heartbeat=0.5)
    registry = client.server.app[keys.STREAMS]
    lively = await client.ws_connect(ws_path(session), headers=auth("doctor", doctor["id"]), autoping=False)
    frames: asyncio.Queue = asyncio.Queue()
    pings = 0

    async def keep_reading():  # answers every heartbeat ping, and counts them
        nonlocal pings
        while True:
            msg = await lively.receive()
            if msg.type == aiohttp.WSMsgType.PING:
                await lively.pong(msg.data)
                pings += 1
            elif msg.type == aiohttp.WSMsgType.TEXT:
                frames.put_nowait(msg.json())
            else:
                return

    reader = asyncio.create_task(keep_reading())
    silent = await client.ws_connect(ws_path(session), headers=auth("client", patient["id"]), autoping=False)
    assert registry.count("ws") == 2
    assert "allign_ws_connections 2.0" in await (await client.get("/metrics")).text()
    msg = await silent.receive(timeout=2)
    assert msg.type == aiohttp.WSMsgType.PING  # and we never answer it
    async with asyncio.timeout(5):
        while registry.count("ws") != 1:
            await asyncio.sleep(0.05)
    # Two more heartbeats: the server pings only a socket whose previous pong came back in time,
    # so the second proves the answering client outlived the deadline of the first.
    answered = pings
    async with asyncio.timeout(10):
        while pings < answered + 2:
            await asyncio.sleep(0.05)
    assert registry.count("ws") == 1 and not lively.closed
    await client.post(msg_url(session), json=text(), headers=auth("client", patient["id"]))
    async with asyncio.timeout(5):
        while (await frames.get())["type"] != "message.new":
            pass
    text_metrics = await (await client.get("/metrics")).text()
    assert 'allign_events_delivered_total{transport="ws"} 1.0' in text_metrics
    assert "allign_ws_connections 1.0" in text_metrics
    await lively.close()
    await reader


async def test_video_permission_changes_reach_the_other_party(client, auth, pair):
    patient, doctor, session = pair
    p_ws = await client.ws_connect(ws_path(session), headers=auth("client", patient["id"]))
    resp = await client.post(f"/api/v2/connect/sessions/{session['id']}/video-permission/allow",
                             headers=auth("doctor", doctor["id"]))
    assert resp.status == 200
    frame = await recv_type(p_ws, "video.permission")
    assert frame["id"].isdigit()
    assert frame["data"]["video_permission_state"] == "ALLOWED_BY_DOCTOR"
    assert frame["data"]["consent_round"] == 1 and frame["data"]["changed_by"] == "doctor"
    await p_ws.close()
