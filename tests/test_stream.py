"""The doctor's request stream (SSE): connected, snapshot, live events, ids, Last-Event-ID replay,
pings, auth, several consoles, cleanup."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest


from gateway import keys
from common.jsonutil import dumps, loads
from gateway.tx import transaction
from storage.events import doctor_requests_channel, publish_after_commit
from storage.session_requests import request_item_for
from storage import driver
from tests import factories
from tests.servers import SseReader

STREAM = "/api/v2/connect/sessions/requests/stream"


async def request_session(app, doctor: dict, patient: dict, minutes_ago: int = 0) -> dict[str, Any]:
    """A REQUESTED session announced to its doctor, written the way the sessions code writes it."""
    session_id = uuid.uuid4()
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago)
    async with transaction(app) as conn:
        await driver.execute(conn, """INSERT INTO connect_sessions (id, patient_id, doctor_id, rate_per_minute,
            room_name, requested_at, expires_at, category, symptoms) VALUES ($1, $2, $3, 500, $4, $5, $6, $7, $8)""",
            session_id, patient["id"], doctor["id"], f"cn-{session_id}", now, now + dt.timedelta(minutes=30),
            "Urology", ["back pain"])
        item = loads(dumps(await request_item_for(conn, session_id)))
        await publish_after_commit(conn, doctor_requests_channel(doctor["id"]), "session_requested", item)
    return item


async def remove_session(app, doctor: dict, session_id: str, status: str = "REJECTED") -> None:
    async with transaction(app) as conn:
        await driver.execute(conn, "UPDATE connect_sessions SET status = $2 WHERE id = $1", uuid.UUID(session_id),
                             status)
        await publish_after_commit(conn, doctor_requests_channel(doctor["id"]), "session_request_removed",
                                   {"session_id": session_id, "status": status})


async def relayed(app) -> None:
    """Wait until the relay has published every committed event (so a stream opened now has them
    behind its start position, not arriving live)."""
    async with asyncio.timeout(5):
        while True:
            async with app[keys.DB].connect() as conn:
                if not await driver.fetchval(conn, "SELECT count(*) FROM event_outbox WHERE published_at IS NULL"):
                    return
            await asyncio.sleep(0.02)


async def open_stream(client, headers=None, params=None) -> SseReader:
    resp = await client.get(STREAM, headers=headers or {}, params=params or {})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    return SseReader(resp)


async def nothing_more(app, doctor: dict, *readers: SseReader) -> None:
    """Nothing else is on its way to `readers` (streams of `doctor`, each read up to here): once every
    committed event is out of the outbox, a fence published on the channel now is the next message
    on each. (Ephemeral, so it never shows up in a later replay.)"""
    await relayed(app)
    fence = {"fence": str(uuid.uuid4())}
    assert await app[keys.BUS].publish_ephemeral(doctor_requests_channel(doctor["id"]), "fence", fence)
    for reader in readers:
        msg = await reader.next()
        assert (msg.event, msg.id, msg.data) == ("fence", None, fence), msg


@pytest.fixture
async def people(db):
    doctor = await factories.make_doctor(db)
    patients = [await factories.make_user(db) for _ in range(4)]
    return doctor, patients


async def test_connected_then_snapshot_then_live_events_with_ids(client, db, auth, people):
    app = client.server.app
    doctor, patients = people
    other_doctor = await factories.make_doctor(db)
    older = await request_session(app, doctor, patients[0], minutes_ago=5)
    newer = await request_session(app, doctor, patients[1], minutes_ago=1)
    await request_session(app, other_doctor, patients[2])
    await relayed(app)

    reader = await open_stream(client, auth("doctor", doctor["id"]))
    connected = await reader.next()
    assert connected.event == "connected" and connected.data == {"doctor_id": str(doctor["id"])}
    assert connected.retry == 3000 and connected.id.isdigit()
    snapshot = await reader.events(2)
    assert [m.event for m in snapshot] == ["session_requested"] * 2
    assert [m.data for m in snapshot] == [older, newer]  # oldest first, the shape of GET .../requests
    assert {m.id for m in snapshot} == {connected.id}
    rest = await client.get("/api/v2/connect/sessions/requests", headers=auth("doctor", doctor["id"]))
    assert rest.status == 200
    assert (await rest.json())["items"] == [older, newer]  # the snapshot has the list's item shape

    live = await request_session(app, doctor, patients[3])
    msg = (await reader.events(1))[0]
    assert (msg.event, msg.data) == ("session_requested", live)
    assert int(msg.id) > int(connected.id)
    await remove_session(app, doctor, older["session_id"], "REJECTED")
    removed = await reader.next()
    assert removed.event == "session_request_removed"
    assert removed.data == {"session_id": older["session_id"], "status": "REJECTED"}
    assert int(removed.id) > int(msg.id)
    await nothing_more(app, doctor, reader)


async def test_last_event_id_replays_exactly_the_missed_events(client, auth, people):
    app = client.server.app
    doctor, patients = people
    headers = auth("doctor", doctor["id"])
    reader = await open_stream(client, headers)
    await reader.next()  # connected
    first = await request_session(app, doctor, patients[0])
    seen = await reader.next()
    assert seen.data == first
    reader.response.close()

    second = await request_session(app, doctor, patients[1])
    third = await request_session(app, doctor, patients[2])
    await remove_session(app, doctor, first["session_id"], "CANCELLED")

    for how in ("header", "query"):
        if how == "header":
            resumed = await open_stream(client, {**headers, "Last-Event-ID": seen.id})
        else:
            resumed = await open_stream(client, headers, params={"last_event_id": seen.id})
        connected = await resumed.next()
        assert connected.event == "connected" and connected.id == seen.id
        replay = await resumed.events(3)
        assert [(m.event, m.data) for m in replay] == [
            ("session_requested", second), ("session_requested", third),
            ("session_request_removed", {"session_id": first["session_id"], "status": "CANCELLED"}),
        ]
        ids = [int(m.id) for m in replay]
        assert ids == sorted(ids) and ids[0] > int(seen.id)
        await nothing_more(app, doctor, resumed)
        resumed.response.close()


async def test_resume_from_a_snapshot_id_misses_nothing_and_repeats_nothing(client, auth, people):
    app = client.server.app
    doctor, patients = people
    headers = auth("doctor", doctor["id"])
    pending = await request_session(app, doctor, patients[0])
    await relayed(app)
    reader = await open_stream(client, headers)
    await reader.next()
    snap = (await reader.events(1))[0]
    assert snap.data == pending
    reader.response.close()
    later = await request_session(app, doctor, patients[1])
    resumed = await open_stream(client, {**headers, "Last-Event-ID": snap.id})
    assert (await resumed.next()).event == "connected"
    assert [m.data for m in await resumed.events(1)] == [later]
    await nothing_more(app, doctor, resumed)


async def test_last_event_id_outside_the_history_sends_the_snapshot_again(client, auth, people):
    app = client.server.app
    doctor, patients = people
    pending = await request_session(app, doctor, patients[0])
    await relayed(app)
    for stale in ("987654321987", "not-an-id"):
        reader = await open_stream(client, {**auth("doctor", doctor["id"]), "Last-Event-ID": stale})
        connected = await reader.next()
        assert connected.event == "connected" and connected.id != stale
        assert [m.data for m in await reader.events(1)] == [pending]
        reader.response.close()


async def test_a_live_event_already_in_the_snapshot_only_moves_the_cursor(client, auth, people):
    """Committed before the snapshot was read, published after the subscription: not shown twice."""
    app = client.server.app
    doctor, patients = people
    item = await request_session(app, doctor, patients[0])
    await relayed(app)
    reader = await open_stream(client, auth("doctor", doctor["id"]))
    await reader.next()
    assert [m.data for m in await reader.events(1)] == [item]
    async with transaction(app) as conn:  # the same announcement arriving late
        await publish_after_commit(conn, doctor_requests_channel(doctor["id"]), "session_requested", item)
    cursor = await reader.next()
    assert cursor.id.isdigit() and cursor.event is None and cursor.raw_data is None
    await nothing_more(app, doctor, reader)


async def test_comment_ping_at_the_configured_interval(make_client, auth, people):
    client = await make_client(sse_ping_interval=0.05)
    doctor, _ = people
    reader = await open_stream(client, auth("doctor", doctor["id"]))
    assert (await reader.next()).event == "connected"
    ping = await reader.next(timeout=2, comments=True)
    assert ping.comments == ["ping"] and ping.event is None and ping.raw_data is None


async def test_auth_by_query_token_and_refusals(client, auth, settings, people):
    doctor, patients = people
    token = factories.access_token(settings, "doctor", doctor["id"])
    reader = await open_stream(client, params={"access_token": token})
    assert (await reader.next()).data == {"doctor_id": str(doctor["id"])}
    reader.response.close()
    expired = factories.access_token(settings, "doctor", doctor["id"],
                                     now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2))
    assert (await client.get(STREAM, params={"access_token": expired})).status == 401

    resp = await client.get(STREAM)
    assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    assert (await resp.json())["code"]
    resp = await client.get(STREAM, params={"access_token": "garbage"})
    assert resp.status == 401
    resp = await client.get(STREAM, headers=auth("client", patients[0]["id"]))
    assert resp.status == 403
    resp = await client.get(STREAM, params={"access_token": factories.access_token(settings, "client", patients[0]["id"])})
    assert resp.status == 403


async def test_several_consoles_of_one_doctor_each_get_every_event(client, auth, people):
    app = client.server.app
    doctor, patients = people
    consoles = [await open_stream(client, auth("doctor", doctor["id"])) for _ in range(3)]
    for reader in consoles:
        assert (await reader.next()).event == "connected"
    item = await request_session(app, doctor, patients[0])
    for reader in consoles:
        assert [m.data for m in await reader.events(1)] == [item]


async def test_closing_the_stream_frees_subscription_and_connection(client, auth, people):
    app = client.server.app
    doctor, _ = people
    channel = doctor_requests_channel(doctor["id"])
    reader = await open_stream(client, auth("doctor", doctor["id"]))
    await reader.next()
    assert app[keys.BUS].listener.subscriber_count(channel) == 1
    assert app[keys.STREAMS].count("sse") == 1
    assert "allign_sse_connections 1.0" in await (await client.get("/metrics")).text()
    reader.response.close()
    async with asyncio.timeout(5):
        while app[keys.BUS].listener.subscriber_count(channel) or app[keys.STREAMS].count():
            await asyncio.sleep(0.02)
    assert "allign_sse_connections 0.0" in await (await client.get("/metrics")).text()


async def test_shutdown_ends_open_streams_cleanly(client, auth, people):
    app = client.server.app
    doctor, _ = people
    reader = await open_stream(client, auth("doctor", doctor["id"]))
    await reader.next()
    for hook in app[keys.SHUTDOWN_HOOKS]:
        await hook()
    last = await reader.next(timeout=5)  # a short reconnection delay: come back at once, elsewhere
    assert last.retry is not None and 0 < last.retry <= 1000 and last.event is None and last.raw_data is None
    with pytest.raises(EOFError):  # the chunked body ends properly, no reset
        await reader.next(timeout=5)
    assert app[keys.STREAMS].count() == 0


async def test_delivered_events_are_counted(client, auth, people):
    app = client.server.app
    doctor, patients = people
    reader = await open_stream(client, auth("doctor", doctor["id"]))
    await reader.next()
    await request_session(app, doctor, patients[0])
    await reader.events(1)
    text = await (await client.get("/metrics")).text()
    assert 'allign_events_delivered_total{transport="sse"} 1.0' in text
    assert 'allign_events_published_total{channel_kind="doctor"} 1.0' in text
