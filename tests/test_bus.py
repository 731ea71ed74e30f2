"""Event bus: outbox relay → Redis → subscriptions (order, resume, history bound, rollback,
slow consumers, several relays)."""
from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from common.tasks import await_chain
from gateway import keys
from gateway.bus import SlowConsumer
from gateway.tx import transaction
from storage import driver
from storage.events import publish_after_commit
from storage.tables import event_outbox


async def emit(app, channel: str, *events: tuple[str, dict]) -> None:
    """Write events the way every producer does: outbox rows inside a committed transaction."""
    async with transaction(app) as conn:
        for type_, data in events:
            await publish_after_commit(conn, channel, type_, data)


async def take(sub, count: int, timeout: float = 5.0) -> list:
    async with asyncio.timeout(timeout):
        return [await anext(sub) for _ in range(count)]


async def nothing_more(app, *subs) -> None:
    """Nothing else is on its way to `subs`: a fence event committed now on each one's channel is
    the next thing each receives (the relay publishes in commit order), not something before it."""
    fence = {"fence": str(uuid.uuid4())}
    async with transaction(app) as conn:
        for channel_ in dict.fromkeys(sub.channel for sub in subs):
            await publish_after_commit(conn, channel_, "fence", fence)
    for sub in subs:
        [event] = await take(sub, 1)
        assert (event.type, event.data) == ("fence", fence), event


async def wait_until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.02)


async def unpublished(db) -> int:
    async with db.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(event_outbox)
                                   .where(event_outbox.c.published_at.is_(None)))).scalar_one()


def channel() -> str:
    return f"session:{uuid.uuid4()}"


async def test_events_arrive_in_commit_order_with_increasing_ids(client, db):
    app, ch = client.server.app, channel()
    async with app[keys.BUS].subscribe(ch) as sub:
        await emit(app, ch, ("message.new", {"n": 1}), ("message.new", {"n": 2}))
        await emit(app, ch, ("session.ended", {"n": 3}))
        got = await take(sub, 3)
    assert [(e.type, e.data["n"]) for e in got] == [("message.new", 1), ("message.new", 2), ("session.ended", 3)]
    ids = [int(e.id) for e in got]
    assert ids == sorted(ids) and len(set(ids)) == 3
    await wait_until(lambda: _zero(unpublished(db)))


async def _zero(awaitable) -> bool:
    return await awaitable == 0


async def test_a_later_commit_with_a_smaller_outbox_id_is_still_delivered_after(client, db):
    """Outbox ids are taken at INSERT; the bus orders by commit, so nothing is refused or lost."""
    app, ch = client.server.app, channel()
    async with app[keys.BUS].subscribe(ch) as sub:
        async with transaction(app) as slow:
            await publish_after_commit(slow, ch, "first.inserted", {})  # smaller outbox id, commits last
            await emit(app, ch, ("first.committed", {}))
            assert (await take(sub, 1))[0].type == "first.committed"
        second = (await take(sub, 1))[0]
    assert second.type == "first.inserted"


async def test_subscriber_only_sees_its_channel_and_events_after_subscribing(client):
    app, ch, other = client.server.app, channel(), channel()
    await emit(app, ch, ("before", {}))
    await wait_until(lambda: _zero(unpublished_of(app)))
    async with app[keys.BUS].subscribe(ch) as sub:
        assert sub.recovered
        await emit(app, other, ("elsewhere", {}))
        await emit(app, ch, ("after", {}))
        assert [e.type for e in await take(sub, 1)] == ["after"]
        await nothing_more(app, sub)


async def unpublished_of(app) -> int:
    async with app[keys.DB].connect() as conn:
        return await driver.fetchval(conn, "SELECT count(*) FROM event_outbox WHERE published_at IS NULL")


async def test_resume_after_an_id_replays_history_then_switches_to_live(client):
    app, ch = client.server.app, channel()
    async with app[keys.BUS].subscribe(ch) as first:
        await emit(app, ch, *[("n", {"n": n}) for n in range(5)])
        seen = await take(first, 5)
    async with app[keys.BUS].subscribe(ch, after=seen[1].id) as sub:
        assert sub.recovered and sub.start_position == int(seen[1].id)
        await emit(app, ch, ("n", {"n": 5}))
        got = await take(sub, 4)
        await nothing_more(app, sub)
    assert [e.data["n"] for e in got] == [2, 3, 4, 5]
    assert [e.id for e in got[:3]] == [e.id for e in seen[2:]]


async def test_a_long_replay_goes_page_by_page_through_a_small_queue_then_live(client):
    app, ch = client.server.app, channel()
    async with app[keys.BUS].subscribe(ch) as first:
        await emit(app, ch, *[("n", {"n": n}) for n in range(11)])
        seen = await take(first, 11)
    async with app[keys.BUS].subscribe(ch, after=seen[0].id, queue_size=3) as sub:
        await emit(app, ch, ("n", {"n": 11}))  # arrives live while history is still being paged
        got = await take(sub, 11)
        await nothing_more(app, sub)
    assert [e.data["n"] for e in got] == list(range(1, 12))
    assert sub.close_reason == "closed"  # never cut off as slow: paging waits for the consumer


async def test_rolled_back_transaction_never_produces_an_event(client, db):
    app, ch = client.server.app, channel()
    async with app[keys.BUS].subscribe(ch) as sub:
        with pytest.raises(RuntimeError):
            async with transaction(app) as conn:
                await publish_after_commit(conn, ch, "ghost", {})
                raise RuntimeError("rollback")
        await emit(app, ch, ("real", {}))
        assert [e.type for e in await take(sub, 1)] == ["real"]
        await nothing_more(app, sub)
    async with db.connect() as conn:
        types = (await conn.execute(sa.select(event_outbox.c.event_type).order_by(event_outbox.c.id))).scalars().all()
    assert types == ["real", "fence"]


async def test_history_is_bounded_in_redis_and_backed_by_the_outbox_until_pruned(make_client, settings):
    client = await make_client(event_history_len=5)
    app, ch = client.server.app, channel()
    async with app[keys.BUS].subscribe(ch) as sub:
        await emit(app, ch, *[("n", {"n": n}) for n in range(30)])
        got = await take(sub, 30)
    redis = app[keys.REDIS]
    assert await redis.xlen(app[keys.BUS].keys.stream(ch)) == 5
    # An id older than the Redis window is served from the outbox table, completely and in order.
    async with app[keys.BUS].subscribe(ch, after=got[2].id) as sub:
        assert sub.recovered
        assert [e.data["n"] for e in await take(sub, 27)] == list(range(3, 30))
    # Once pruned, that id is outside the window: the subscription starts at the tip, not recovered.
    await wait_until(lambda: _zero(unpublished_of(app)))
    assert await app[keys.BUS].prune_outbox(older_than=0) == 30
    async with app[keys.BUS].subscribe(ch, after=got[2].id) as sub:
        assert not sub.recovered and sub.start_position == int(got[-1].id)
        await emit(app, ch, ("n", {"n": 30}))
        assert [e.data["n"] for e in await take(sub, 1)] == [30]
    # Ids inside the Redis window still resume from Redis.
    async with app[keys.BUS].subscribe(ch, after=got[26].id) as sub:
        assert sub.recovered
        assert [e.data["n"] for e in await take(sub, 4)] == [27, 28, 29, 30]


async def test_unknown_or_future_ids_start_at_the_tip(client):
    app, ch = client.server.app, channel()
    for bogus in ("999999999999", "abc", "-3"):
        async with app[keys.BUS].subscribe(ch, after=bogus) as sub:
            assert sub.recovered is (bogus in ("abc", "-3"))  # malformed = no id given
            await emit(app, ch, ("x", {"bogus": bogus}))
            assert (await take(sub, 1))[0].data == {"bogus": bogus}


async def test_slow_consumer_is_cut_off_without_delaying_a_fast_one(client):
    app, ch = client.server.app, channel()
    bus = app[keys.BUS]
    async with bus.subscribe(ch, queue_size=3, transport="ws") as slow, bus.subscribe(ch) as fast:
        closed = []
        slow.add_close_callback(closed.append)
        await emit(app, ch, *[("n", {"n": n}) for n in range(10)])
        assert [e.data["n"] for e in await take(fast, 10, timeout=2)] == list(range(10))
        assert closed == ["slow_consumer"]
        with pytest.raises(SlowConsumer):
            await anext(slow)
        await emit(app, ch, ("n", {"n": 10}))
        assert (await take(fast, 1))[0].data["n"] == 10
    text = await (await client.get("/metrics")).text()
    assert 'allign_slow_consumers_total{transport="ws"} 1.0' in text


async def test_ephemeral_events_reach_live_subscribers_but_not_history(client):
    app, ch = client.server.app, channel()
    async with app[keys.BUS].subscribe(ch) as sub:
        assert await app[keys.BUS].publish_ephemeral(ch, "typing", {"user": "u1", "at": uuid.UUID(int=1)})
        event = (await take(sub, 1))[0]
        assert (event.id, event.type, event.data) == ("", "typing", {"user": "u1", "at": str(uuid.UUID(int=1))})
        page, complete = await app[keys.BUS].history(ch, sub.start_position, 10)
    assert page == [] and complete


async def test_several_relays_publish_each_event_once_in_order_and_fail_over(make_client, db):
    a = await make_client()
    b = await make_client()
    app_a, app_b, ch = a.server.app, b.server.app, channel()
    await wait_until(lambda: _true(app_a[keys.BUS].relay.is_leader or app_b[keys.BUS].relay.is_leader))
    assert app_a[keys.BUS].relay.is_leader != app_b[keys.BUS].relay.is_leader
    async with app_a[keys.BUS].subscribe(ch) as sub_a, app_b[keys.BUS].subscribe(ch) as sub_b:
        # Writers on both "processes", concurrently.
        await asyncio.gather(*[emit(app_a if n % 2 else app_b, ch, ("n", {"n": n})) for n in range(40)])
        got_a, got_b = await take(sub_a, 40), await take(sub_b, 40)
    assert [e.id for e in got_a] == [e.id for e in got_b]
    assert sorted(e.data["n"] for e in got_a) == list(range(40))
    assert [int(e.id) for e in got_a] == sorted(int(e.id) for e in got_a)
    assert await app_a[keys.REDIS].xlen(app_a[keys.BUS].keys.stream(ch)) == 40
    # The leader goes away: the other takes over and relays what is written next.
    leader, follower = (a, b) if app_a[keys.BUS].relay.is_leader else (b, a)
    await leader.close()
    app_f = follower.server.app
    await wait_until(lambda: _true(app_f[keys.BUS].relay.is_leader))
    async with app_f[keys.BUS].subscribe(ch) as sub:
        await emit(app_f, ch, ("after.failover", {}))
        assert (await take(sub, 1))[0].type == "after.failover"


async def test_a_commit_in_another_process_wakes_the_leader_through_redis(make_client):
    """Not a database NOTIFY (one lock across every notifying commit): a Redis message after commit."""
    a = await make_client()
    b = await make_client()
    await wait_until(lambda: _true(a.server.app[keys.BUS].relay.is_leader or b.server.app[keys.BUS].relay.is_leader))
    leader, follower = (a, b) if a.server.app[keys.BUS].relay.is_leader else (b, a)
    relay = leader.server.app[keys.BUS].relay
    relay.poll_interval = 60.0  # its safety-net poll cannot be what finds them
    passes = relay.passes
    # The wait after the leader's next pass is a 60 s one (nothing commits meanwhile to wake it early).
    await wait_until(lambda: _true(relay.passes > passes))
    app_f, ch = follower.server.app, channel()
    async with app_f[keys.BUS].subscribe(ch) as sub:
        for n in range(3):
            await emit(app_f, ch, ("n", {"n": n}))
            [event] = await take(sub, 1, timeout=2.0)
            assert event.data == {"n": n}
        # A burst: one publish in flight at a time, yet the last commit is still followed by a wake.
        await asyncio.gather(*[emit(app_f, ch, ("n", {"n": n})) for n in range(3, 23)])
        assert sorted(e.data["n"] for e in await take(sub, 20, timeout=2.0)) == list(range(3, 23))


async def test_a_waiting_relay_holds_no_snapshot_back(make_client, db):
    """A follower waiting in a statement would pin the database's xmin horizon: no VACUUM, and no
    dead index entries of the queues cleaned, for as long as another process leads."""
    a = await make_client()
    b = await make_client()
    await wait_until(lambda: _true(a.server.app[keys.BUS].relay.is_leader or b.server.app[keys.BUS].relay.is_leader))
    # Both relays between statements, the follower after at least one try for the lock. A follower
    # that waited in a statement (pg_advisory_lock) or in an open transaction is never seen idle.
    relays: list = []

    async def both_idle_after_a_try() -> bool:
        nonlocal relays
        async with db.connect() as conn:
            relays = (await conn.execute(sa.text(
                "SELECT a.backend_xmin IS NOT NULL AS pins, a.state, a.query, "
                "       EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' "
                "               AND l.granted) AS leads "
                "FROM pg_stat_activity a "
                "WHERE a.application_name = 'allign-event-relay' AND a.datname = current_database()"))).all()
        followers = [r for r in relays if not r.leads]
        return (len(relays) == 2 and len(followers) == 1 and "advisory_lock" in followers[0].query
                and all(r.state == "idle" for r in relays))

    with contextlib.suppress(TimeoutError):
        await wait_until(both_idle_after_a_try, timeout=10)
    assert len(relays) == 2 and [r.leads for r in relays].count(False) == 1, relays
    assert "advisory_lock" in next(r.query for r in relays if not r.leads), relays
    assert [r.state for r in relays] == ["idle", "idle"], relays
    assert not any(r.pins for r in relays), relays


async def _true(value) -> bool:
    return bool(value)


async def test_shutdown_ends_open_subscriptions_and_refuses_new_ones(client):
    app, ch = client.server.app, channel()
    bus = app[keys.BUS]
    async with bus.subscribe(ch) as sub:
        waiter = asyncio.create_task(take(sub, 1))
        async with asyncio.timeout(5):  # parked in Subscription.get when the bus closes
            while not any(where.startswith("bus_subscription.py:") and where.endswith(" get")
                          for where in await_chain(waiter)):
                await asyncio.sleep(0)
        bus.close_all()
        with pytest.raises(StopAsyncIteration):
            await waiter
        assert sub.close_reason == "shutdown"
    async with bus.subscribe(ch) as late:
        with pytest.raises(StopAsyncIteration):
            await anext(late)


async def test_one_redis_connection_serves_every_subscription(client):
    app = client.server.app
    bus = app[keys.BUS]
    r = aioredis.from_url(app[keys.SETTINGS].redis_url)
    try:
        before = await r.pubsub_numsub(*(bus.keys.live(f"x:{n}") for n in range(3)))
        assert all(count == 0 for _, count in before)
        async with bus.subscribe("x:0") as s0, bus.subscribe("x:1") as s1, bus.subscribe("x:1") as s1b, \
                bus.subscribe("x:2") as s2:
            counts = dict(await r.pubsub_numsub(*(bus.keys.live(f"x:{n}") for n in range(3))))
            assert set(counts.values()) == {1}  # one Redis subscriber per channel, whatever the local count
            await emit(app, "x:1", ("hello", {}))
            assert (await take(s1, 1))[0].type == (await take(s1b, 1))[0].type == "hello"
            await nothing_more(app, s0, s2)  # the fence on x:0 and x:2 is committed after "hello"
        assert bus.listener.subscriber_count("x:1") == 0
    finally:
        await r.aclose()


async def test_a_subscription_redis_was_slow_to_confirm_catches_up_once_it_does(client, db, monkeypatch):
    """Redis takes longer than CONFIRM_TIMEOUT to confirm a new channel (held here on the listener's
    connection, as a slow network would): the subscription starts anyway, an event published before
    the SUBSCRIBE reaches Redis misses the live path, and is delivered from history once the
    confirmation comes."""
    from gateway import bus_listener

    app, ch = client.server.app, channel()
    listener = app[keys.BUS].listener
    conn = listener._conn
    held: list[tuple] = []
    release = asyncio.Event()
    send = conn.send_command

    async def slow_subscribe(*args, **kwargs):
        if args[0] == "SUBSCRIBE" and args[1:] == (listener._keys.live(ch),):
            held.append(args)
            asyncio.get_running_loop().create_task(_after(release, send(*args, **kwargs)))
            return None
        return await send(*args, **kwargs)

    monkeypatch.setattr(conn, "send_command", slow_subscribe)
    monkeypatch.setattr(bus_listener, "CONFIRM_TIMEOUT", 0.05)
    async with app[keys.BUS].subscribe(ch) as sub:
        assert held, "the SUBSCRIBE was not sent through the listener's connection"
        await emit(app, ch, ("message.new", {"n": 1}))
        await wait_until(lambda: _zero(unpublished(db)))  # published while Redis had not subscribed us
        release.set()
        [event] = await take(sub, 1)
        assert (event.type, event.data) == ("message.new", {"n": 1})
        await nothing_more(app, sub)


async def _after(event: asyncio.Event, action) -> None:
    await event.wait()
    await action
