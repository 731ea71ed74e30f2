"""Redis dies and comes back empty (no persistence): open streams resume from their last id,
events committed meanwhile wait in the outbox and go out in order, nothing is lost or repeated,
and a console resuming after an id the new Redis never saw is served from the outbox."""
from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from gateway import keys
from storage.redis import breaker_of
from tests import factories
from tests.servers import start_redis
from tests.test_stream import nothing_more, open_stream, relayed, remove_session, request_session


@pytest.fixture
async def private_redis():
    redis = await start_redis()
    yield redis
    await redis.stop()


async def unpublished(db) -> int:
    async with db.connect() as conn:
        return await conn.scalar(sa.text("SELECT count(*) FROM event_outbox WHERE published_at IS NULL"))


async def test_streams_survive_a_redis_restart_without_losing_events(make_client, private_redis, auth, db):
    client = await make_client(redis_url=private_redis.url)
    app = client.server.app
    doctor = await factories.make_doctor(db)
    patients = [await factories.make_user(db) for _ in range(4)]
    headers = auth("doctor", doctor["id"])

    reader = await open_stream(client, headers)
    assert (await reader.next()).event == "connected"
    first = await request_session(app, doctor, patients[0])
    [seen] = await reader.events(1)
    assert seen.data == first
    await relayed(app)

    await private_redis.stop()
    second = await request_session(app, doctor, patients[1])          # commits while Redis is down
    await remove_session(app, doctor, first["session_id"], "CANCELLED")
    assert (await client.get("/healthz")).status == 200                # REST keeps answering
    relay = app[keys.BUS].relay
    passes = relay.passes
    async with asyncio.timeout(10):  # a whole relay pass begun after both commits (and failed)
        while relay.passes < passes + 2:
            await asyncio.sleep(0.02)
    assert await unpublished(db) == 2                                   # waiting in the outbox
    breaker = breaker_of(app[keys.REDIS])
    assert breaker.is_open  # nothing tries Redis meanwhile but the breaker's probe (tests/test_faults_redis.py)

    # A console that connects while Redis is down still gets its snapshot.
    late = await open_stream(client, headers)
    assert (await late.next()).event == "connected"
    assert [m.data for m in await late.events(1)] == [second]

    await private_redis.start()                                        # same port, empty
    expected = [("session_requested", second),
                ("session_request_removed", {"session_id": first["session_id"], "status": "CANCELLED"})]
    got = await reader.events(2, timeout=15)
    assert [(m.event, m.data) for m in got] == expected
    assert int(seen.id) < int(got[0].id) < int(got[1].id)
    # The late console was behind the snapshot for `second`: it only gets the removal.
    assert [(m.event, m.data) for m in await late.events(1, timeout=15)] == expected[1:]
    await nothing_more(app, doctor, reader, late)

    # Resume after an id the restarted Redis never held: replayed from the outbox, exactly.
    resumed = await open_stream(client, {**headers, "Last-Event-ID": seen.id})
    assert (await resumed.next()).id == seen.id
    replay = await resumed.events(2)
    assert [(m.id, m.event, m.data) for m in replay] == [(m.id, m.event, m.data) for m in got]
    await nothing_more(app, doctor, resumed, reader, late)

    # And live delivery works again on every stream.
    third = await request_session(app, doctor, patients[2])
    for stream in (reader, late, resumed):
        assert [m.data for m in await stream.events(1, timeout=10)] == [third]
    assert app[keys.BUS].listener.ready and not breaker.is_open
