"""The event bus: one interface for publishing and subscribing, shared by every server process.

Producers write events into the outbox inside their transaction
(`storage.events.publish_after_commit` within `gateway.tx.transaction(app)`); nothing else publishes
durable events. The outbox relay (gateway.bus_relay, one leader across processes) gives each
committed row its bus event id, in commit order, and publishes it to Redis: a per-channel stream
(bounded history) and a pub/sub message (live fan-out). Each process reads pub/sub through ONE
Redis connection (gateway.bus_listener) and fans out in memory to its subscriptions
(gateway.bus_subscription), each with its own bounded queue.

Consumer API (websocket, SSE):

    async with app[keys.BUS].subscribe(channel, after=last_event_id_or_None) as sub:
        async for event in sub:          # Event(id: str, type: str, data: dict)
            ...

yields first the history after `after` (if given), then live events, in id order, without gaps or
duplicates at the switch-over (`await sub.get(timeout)` is the same with a timeout: None = time to
ping). `sub.recovered` is False when `after` lies outside the history
window (or is not an id this bus issued): the subscription then starts at the current tip and the
consumer must resynchronise (the doctor's SSE stream sends its snapshot again). A consumer that does
not drain its queue (`send_queue_size`) raises SlowConsumer ("slow_consumer"); at shutdown the
iteration just ends. `publish_ephemeral(channel, type, data)` sends an event that is not stored
(websocket `typing`): live subscribers on every process get it (id ""), nobody can replay it.

DELIVERY GUARANTEE (the one place it is written down)
- Event ids are decimal strings of a PostgreSQL sequence, increasing in commit order within a
  channel. They survive Redis restarts; they are not contiguous per channel.
- At-least-once within the history window, ordered per channel; clients deduplicate by id (as with
  Centrifugo). A subscription never yields the same id twice, but a client that resumes after an
  id it already had may get events it already received through another connection.
- History window: the Redis stream of each channel (about `event_history_len` newest events)
  and, behind it, the outbox table (published events kept for `OUTBOX_RETENTION`, 1 hour). A resume
  after an id inside the window replays everything after it; further back, `recovered` is False.
- Redis trouble: events committed while Redis is unreachable stay in the outbox and are published
  in order once it is back; open subscriptions re-read history after their last id when the
  listener reconnects (from PostgreSQL if a restarted Redis lost its streams). Nothing inside the
  window is lost; REST keeps working meanwhile.
- Ephemeral events are at-most-once and have no history.
- A subscription covers every event published after `async with subscribe(...)` returns (Redis has
  confirmed the channel by then, or the subscription re-reads history once it does). Transports
  therefore subscribe BEFORE telling the client it is connected (websocket 101, SSE headers).
"""
from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, AsyncIterator

from aiohttp import web
from redis.exceptions import RedisError

from gateway import keys
from gateway.auth import revoked_jtis
from gateway.bus_history import BusKeys, History
from gateway.bus_listener import Listener
from gateway.bus_relay import OutboxRelay
from gateway.bus_subscription import (
    CLOSED, SHUTDOWN, SLOW_CONSUMER, Event, SlowConsumer, Subscription, SubscriptionClosed, parse_event_id,
)
from gateway.connections import ConnectionRegistry
from common.tasks import stop_task
from common.jsonutil import dumps
from storage.redis import RedisUnavailable, breaker_of

log = logging.getLogger(__name__)

OUTBOX_RETENTION = 3600.0  # seconds a published event stays replayable from PostgreSQL

__all__ = ["EventBus", "Event", "Subscription", "SubscriptionClosed", "SlowConsumer", "SLOW_CONSUMER",
           "SHUTDOWN", "CLOSED", "parse_event_id", "bus_ctx", "OUTBOX_RETENTION", "ConnectionRegistry"]


class EventBus:
    def __init__(self, *, redis: Any, engine: Any, metrics: Any, database_url: str, redis_prefix: str,
                 history_len: int, queue_size: int, retention: float = OUTBOX_RETENTION) -> None:
        self.keys = BusKeys(redis_prefix)
        self.metrics = metrics
        self.queue_size = queue_size
        self._redis = redis
        self._engine = engine
        self._history = History(redis, engine, self.keys)
        self.listener = Listener(redis, self.keys)
        self.relay = OutboxRelay(dsn=database_url, redis=redis, keys=self.keys, listener=self.listener,
                                 metrics=metrics, history_len=history_len, retention=retention)
        breaker = breaker_of(redis)
        if breaker is not None:  # Redis answers again: publish what waited in the outbox at once
            breaker.on_close(self.relay.wake)
        self._closing = False
        self._waking_leader: asyncio.Task | None = None
        self._wake_leader_again = False

    async def start(self) -> None:
        await self.listener.start()
        self.relay.start()

    async def stop(self) -> None:
        self.close_all(SHUTDOWN)
        await stop_task(self._waking_leader)
        await self.relay.stop()
        await self.listener.stop()

    # --- producing -------------------------------------------------------------------------

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows: have the relay leader pass now."""
        if self.relay.is_leader:
            self.relay.wake()
            return
        # The leader is another process: tell it through Redis. One publish in flight at a time;
        # commits made while it is in flight are covered by one more after it (each commit is
        # followed by a wake-up sent after it), so a busy process sends far fewer than it commits.
        self._wake_leader_again = True
        if self._waking_leader is None or self._waking_leader.done():
            self._waking_leader = asyncio.get_running_loop().create_task(self._wake_leader())

    async def _wake_leader(self) -> None:
        while self._wake_leader_again:
            self._wake_leader_again = False
            try:
                await self._redis.publish(self.keys.relay_wake, b"")
            except RedisError:
                return  # the leader's poll finds the rows (and without Redis they wait anyway)

    async def publish_ephemeral(self, channel: str, event_type: str, data: dict[str, Any]) -> bool:
        """Live-only event (not stored, no id, no replay). False if Redis could not take it."""
        payload = b"[null," + dumps(event_type) + b"," + dumps(data) + b"]"
        try:
            await self._redis.publish(self.keys.live(channel), payload)
        except RedisUnavailable:
            return False  # Redis is down (logged once by its breaker): typing indicators wait for it
        except RedisError as exc:
            log.warning("ephemeral %s on %s dropped: %s", event_type, channel, exc)
            return False
        return True

    # --- consuming -------------------------------------------------------------------------

    def subscribe(self, channel: str, after: int | str | None = None, *, transport: str | None = None,
                  queue_size: int | None = None) -> Subscription:
        """`async with bus.subscribe(channel, after=...) as sub:` (see the module docstring).
        `transport` ("sse", "ws") labels the delivered/slow-consumer metrics; `queue_size` overrides
        settings.send_queue_size."""
        if isinstance(after, str):
            after = parse_event_id(after)
        return Subscription(self, channel, after, queue_size or self.queue_size, transport)

    async def _open(self, sub: Subscription, after: int | None) -> None:
        if self._closing:
            sub.close(SHUTDOWN)
            return
        await self.listener.attach(sub)
        try:
            await self._start(sub, after)
        except BaseException:
            self._leave(sub)
            sub._release()
            raise

    def _leave(self, sub: Subscription) -> None:
        self.listener.detach(sub)

    async def _start(self, sub: Subscription, after: int | None) -> None:
        tip = await self._history.tip()
        if after is not None and after <= tip:
            page, complete = await self._history.read(sub.channel, after, sub.maxsize)
            if complete:
                sub.begin_at(after)
                sub._apply(page, more=len(page) >= sub.maxsize)
                return
        sub.recovered = after is None
        sub.begin_at(tip)
        sub._apply([], more=False)

    async def tip(self) -> int:
        return await self._history.tip()

    async def history(self, channel: str, after: int, limit: int) -> tuple[list[Event], bool]:
        return await self._history.read(channel, after, limit)

    def close_all(self, reason: str = SHUTDOWN) -> None:
        """Close every subscription of this process (their iterations end); refuse new ones."""
        self._closing = True
        for sub in self.listener.subscriptions():
            sub.close(reason)

    async def prune_outbox(self, older_than: float | None = None) -> int:
        """Delete published outbox rows older than `older_than` seconds (default: the retention);
        the relay leader does this every minute."""
        async with self._engine.connect() as conn:
            return await self.relay.prune(conn.raw, older_than)


async def bus_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    bus = EventBus(redis=app[keys.REDIS], engine=app[keys.DB], metrics=app[keys.METRICS],
                   database_url=settings.database_url, redis_prefix=settings.redis_prefix,
                   history_len=settings.event_history_len, queue_size=settings.send_queue_size)
    registry = ConnectionRegistry(app[keys.METRICS], now=app[keys.CLOCK].now,
                                  revoked=functools.partial(revoked_jtis, app))
    app[keys.BUS] = bus
    app[keys.STREAMS] = registry

    async def close_streams() -> None:
        registry.close_all(SHUTDOWN)
        bus.close_all(SHUTDOWN)

    app[keys.SHUTDOWN_HOOKS].append(close_streams)
    await bus.start()
    registry.start()
    try:
        yield
    finally:
        await registry.stop()
        await bus.stop()

