"""The process's single Redis pub/sub connection, fanned out in memory to every local subscription.

A channel is SUBSCRIBEd once, when its first local subscriber arrives, and UNSUBSCRIBEd by a
periodic sweep once it has had no subscriber for a while (a reconnecting client finds it ready).
After every (re)connect all channels are subscribed again and, once Redis has confirmed them,
every subscription re-reads its history after its position: what was published while the
connection was down is not lost. While the client's circuit breaker is open (storage.redis_breaker)
no reconnect is attempted: the listener reconnects the moment the breaker's probe gets an answer.

The relay leader also hears other processes' wake-ups here (`follow_relay_wakes`).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Callable

import orjson
from redis.exceptions import RedisError

from gateway.bus_history import BusKeys
from gateway.bus_subscription import Event, Subscription
from common.tasks import stop_task
from storage.redis import breaker_of, pin

if TYPE_CHECKING:  # pragma: no cover
    from redis.asyncio.connection import AbstractConnection

log = logging.getLogger(__name__)

HEARTBEAT = 10.0           # seconds without traffic before a PING; twice that without a reply = dead
IDLE_SWEEP = 30.0          # how often channels without subscribers are unsubscribed
CONFIRM_TIMEOUT = 2.0      # how long subscribe() waits for Redis to confirm a new channel
_RESYNC_MARK = b"allign-bus-resync"
_CHUNK = 500


class ChannelState:
    __slots__ = ("subs", "confirmed", "unconfirmed_starts", "_waiter")

    def __init__(self) -> None:
        self.subs: set[Subscription] = set()
        self.confirmed = False  # Redis acknowledged the SUBSCRIBE on the current connection
        # A subscriber stopped waiting for the confirmation and started anyway: it may miss live
        # events published before the confirmation, so its history is re-read once it comes.
        self.unconfirmed_starts = False
        self._waiter: asyncio.Future[None] | None = None

    async def wait_confirmed(self, timeout: float) -> None:
        if self.confirmed:
            return
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._waiter)
        except TimeoutError:
            self.unconfirmed_starts = True

    def confirm(self) -> None:
        self.confirmed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.unconfirmed_starts:
            self.unconfirmed_starts = False
            for sub in self.subs:
                sub._resync()


class Listener:
    def __init__(self, redis: Any, keys: BusKeys, on_connect: Callable[[], None] | None = None) -> None:
        self._pool = redis.connection_pool
        self._breaker = breaker_of(redis)
        self._keys = keys
        self.channels: dict[str, ChannelState] = {}
        self._conn: AbstractConnection | None = None
        self.ready = False            # connected and every known channel subscribed
        self._on_connect = on_connect
        self._task: asyncio.Task | None = None
        self._ready_event: asyncio.Event | None = None
        self._wake_key = keys.relay_wake.encode()
        self._on_relay_wake: Callable[[], None] | None = None

    # --- subscriptions ---------------------------------------------------------------------

    async def attach(self, sub: Subscription) -> None:
        """Register `sub` for live events of its channel; wait until Redis confirmed the channel
        (unless Redis is unavailable: the subscription then catches up when it is back)."""
        state = self.channels.get(sub.channel)
        new = state is None
        if state is None:
            state = self.channels[sub.channel] = ChannelState()
        state.subs.add(sub)
        if new:
            await self._send("SUBSCRIBE", self._keys.live(sub.channel))
        if self.ready:
            await state.wait_confirmed(CONFIRM_TIMEOUT)

    async def follow_relay_wakes(self, callback: Callable[[], None]) -> None:
        """While this process leads the relay: call `callback` when another process wakes it."""
        self._on_relay_wake = callback
        await self._send("SUBSCRIBE", self._keys.relay_wake)

    async def unfollow_relay_wakes(self) -> None:
        self._on_relay_wake = None
        await self._send("UNSUBSCRIBE", self._keys.relay_wake)

    def detach(self, sub: Subscription) -> None:
        state = self.channels.get(sub.channel)
        if state is not None:
            state.subs.discard(sub)

    def subscriptions(self) -> list[Subscription]:
        return [sub for state in self.channels.values() for sub in state.subs]

    def subscriber_count(self, channel: str) -> int:
        state = self.channels.get(channel)
        return len(state.subs) if state else 0

    # --- connection loop -------------------------------------------------------------------

    async def start(self, ready_timeout: float = CONFIRM_TIMEOUT) -> None:
        """Start the connection loop; wait (a little) for Redis, but start without it."""
        self._ready_event = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="bus-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ready_timeout):
                await self._ready_event.wait()

    async def stop(self) -> None:
        await stop_task(self._task)
        await self._drop_connection()

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                await self._connect()
                backoff = 0.05
                await self._read_loop()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.ready:
                    log.warning("event bus lost Redis (%s); reconnecting", exc)
            except Exception:
                log.exception("event bus listener failed; reconnecting")
            self.ready = False
            await self._drop_connection()
            if self._breaker is not None and self._breaker.is_open:
                # No attempt while the breaker is open: reconnect the moment its probe gets through.
                await self._breaker.wait_closed(60.0)
                continue
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _connect(self) -> None:
        conn = pin(self._pool.make_connection())
        await conn.connect()
        # From here on attach() subscribes new channels itself; the ones known now are sent below.
        self._conn = conn
        names = [self._keys.live(ch) for ch in self.channels]
        if self._on_relay_wake is not None:
            names.append(self._keys.relay_wake)
        for state in self.channels.values():
            state.confirmed = False
        for start in range(0, len(names), _CHUNK):
            await conn.send_command("SUBSCRIBE", *names[start:start + _CHUNK], check_health=False)
        # Replies come in order: when this PING's reply arrives, every SUBSCRIBE above is confirmed.
        await conn.send_command("PING", _RESYNC_MARK, check_health=False)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    async def _read_loop(self) -> None:
        conn = self._conn
        assert conn is not None
        loop = asyncio.get_running_loop()
        waiting_pong = False
        next_sweep = loop.time() + IDLE_SWEEP
        while True:
            reply = await conn.read_response(timeout=HEARTBEAT, push_request=True)
            if reply is None:  # quiet: prove the connection is alive
                if waiting_pong:
                    raise ConnectionError("no reply to PING from Redis")
                await conn.send_command("PING", check_health=False)
                waiting_pong = True
            else:
                waiting_pong = False
                self._handle(reply)
            if loop.time() >= next_sweep:
                next_sweep = loop.time() + IDLE_SWEEP
                await self._unsubscribe_idle()

    def _handle(self, reply: Any) -> None:
        if reply == _RESYNC_MARK:  # PING reply outside subscribed mode (no channel yet)
            self._resynced()
            return
        if not isinstance(reply, list) or not reply:
            return
        kind = reply[0]
        if kind == b"message":
            if reply[1] == self._wake_key:
                if self._on_relay_wake is not None:
                    self._on_relay_wake()
            else:
                self._dispatch(reply[1], reply[2])
        elif kind == b"subscribe":
            state = self.channels.get(self._channel_of(reply[1]))
            if state is not None:
                state.confirm()
        elif kind == b"pong" and len(reply) > 1 and reply[1] == _RESYNC_MARK:
            self._resynced()

    def _resynced(self) -> None:
        self.ready = True
        self._ready_event.set()
        for sub in self.subscriptions():
            sub._resync()
        if self._on_connect is not None:
            self._on_connect()

    def _channel_of(self, key: bytes) -> str:
        return key.decode()[len(self._keys.live_prefix):]

    def _dispatch(self, key: bytes, payload: bytes) -> None:
        state = self.channels.get(self._channel_of(key))
        if state is None or not state.subs:
            return
        try:
            seq, type_, data = orjson.loads(payload)
        except (ValueError, TypeError):
            log.warning("malformed bus message on %r", key)
            return
        event = Event.ephemeral(type_, data) if seq is None else Event.durable(int(seq), type_, data)
        for sub in tuple(state.subs):
            sub._deliver(event)

    async def _unsubscribe_idle(self) -> None:
        idle = [ch for ch, state in self.channels.items() if not state.subs and state.confirmed]
        for start in range(0, len(idle), _CHUNK):
            # Drop a chunk's states and write its UNSUBSCRIBE with no await in between: a subscriber
            # arriving meanwhile finds the channel gone and its SUBSCRIBE goes out after this one.
            # (Checked again per chunk: one may have come back while an earlier chunk was sent.)
            chunk = [ch for ch in idle[start:start + _CHUNK]
                     if (state := self.channels.get(ch)) is not None and not state.subs and state.confirmed]
            for ch in chunk:
                del self.channels[ch]
            if chunk:
                await self._send("UNSUBSCRIBE", *[self._keys.live(ch) for ch in chunk])

    async def _send(self, *args: Any) -> None:
        conn = self._conn
        # Never let a send reconnect this connection behind the reader's back.
        if conn is None or not conn.is_connected:
            return
        try:
            await conn.send_command(*args, check_health=False)
        except (RedisError, OSError) as exc:
            log.warning("event bus could not send %s (%s)", args[0], exc)
