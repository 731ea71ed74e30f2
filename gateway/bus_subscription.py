"""One consumer's view of one bus channel: history first, then live events, through a bounded queue.

See gateway.bus for the delivery guarantee. A Subscription is created by `EventBus.subscribe`;
the bus feeds it synchronously from its single Redis reader (`_deliver`), the consumer drains it
with `async for`. Feeding never blocks: a consumer whose queue is full is cut off ("slow_consumer").
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from gateway.bus import EventBus

log = logging.getLogger(__name__)

SLOW_CONSUMER = "slow_consumer"      # the queue overflowed: the consumer does not keep up
SHUTDOWN = "shutdown"                # the server is stopping
CLOSED = "closed"                    # the consumer left (or its connection went away)
HISTORY_LOST = "history_lost"        # after a Redis outage the gap was older than the history window
UNAVAILABLE = "unavailable"          # neither Redis nor PostgreSQL could serve the catch-up


@dataclass(frozen=True, slots=True)
class Event:
    """`id` is the resume cursor (decimal string of `seq`); ephemeral events have id "" and seq None.

    `data` is shared by every subscriber of the process: read it, never mutate it.
    """
    id: str
    type: str
    data: dict[str, Any]
    seq: int | None = None

    @classmethod
    def durable(cls, seq: int, type_: str, data: dict[str, Any]) -> "Event":
        return cls(str(seq), type_, data, seq)

    @classmethod
    def ephemeral(cls, type_: str, data: dict[str, Any]) -> "Event":
        return cls("", type_, data, None)


class SubscriptionClosed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SlowConsumer(SubscriptionClosed):
    def __init__(self) -> None:
        super().__init__(SLOW_CONSUMER)


def parse_event_id(raw: str | None) -> int | None:
    """A client's Last-Event-ID (or resume id) → int; anything malformed counts as absent."""
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


class Subscription:
    """`async with bus.subscribe(...) as sub: async for event in sub` yields events in id order,
    each durable id once.

    Attributes for the consumer: `position` (id of the last durable event queued), `start_position`
    (where it began: `after`, or the tip), `recovered` (False when the requested `after` was outside
    the history window, or invalid: the subscription then starts at the current tip and the consumer
    must resynchronise its state another way), `close_reason` once closed.
    Iteration raises SlowConsumer when the queue overflowed; it stops quietly on any other close.
    `await sub.get(timeout)` is the same with a timeout (None when nothing came: time to ping).
    """

    # Thousands of these live per process: slots, a plain list as queue, nothing allocated early.
    __slots__ = ("_bus", "channel", "_after", "position", "start_position", "recovered", "close_reason",
                 "transport", "maxsize", "_queue", "_buffer", "_reread", "_waiter", "_timed_out", "_close_callbacks")

    def __init__(self, bus: "EventBus", channel: str, after: int | None, maxsize: int,
                 transport: str | None) -> None:
        self._bus = bus
        self.channel = channel
        self._after = after
        self.position = 0
        self.start_position = 0
        self.recovered = True
        self.close_reason: str | None = None
        self.transport = transport
        self.maxsize = max(1, maxsize)
        self._queue: list[Event] = []
        # Live durable events held back while history is being read (None once live).
        self._buffer: list[Event] | None = []
        self._reread = False  # history must be read again before going live
        self._waiter: asyncio.Future[None] | None = None
        self._timed_out = False
        self._close_callbacks: list[Callable[[str], Any]] | None = None

    async def __aenter__(self) -> "Subscription":
        await self._bus._open(self, self._after)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._bus._leave(self)
        self._release()

    # --- consumer side ---------------------------------------------------------------------

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Event:
        event = await self.get()
        assert event is not None
        return event

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None after `timeout` seconds without one. Raises StopAsyncIteration once
        closed (SlowConsumer if it was for being too slow)."""
        timer: asyncio.TimerHandle | None = None
        self._timed_out = False
        try:
            while True:
                if self._queue:
                    event = self._queue.pop(0)
                    if self.transport is not None:
                        self._bus.metrics.events_delivered.labels(self.transport).inc()
                    return event
                if self.close_reason is not None:
                    if self.close_reason == SLOW_CONSUMER:
                        raise SlowConsumer()
                    raise StopAsyncIteration
                if self._buffer is not None:
                    await self._catch_up()
                    continue
                if self._timed_out:
                    return None
                loop = asyncio.get_running_loop()
                self._waiter = waiter = loop.create_future()
                if timeout is not None and timer is None:
                    timer = loop.call_later(timeout, self._expire)
                try:
                    await waiter
                finally:
                    self._waiter = None
        finally:
            if timer is not None:
                timer.cancel()

    def add_close_callback(self, callback: Callable[[str], Any]) -> None:
        """`callback(reason)` runs once when the bus closes this subscription (slow consumer,
        shutdown, history lost): e.g. abort the connection whose writer may be blocked."""
        if self._close_callbacks is None:
            self._close_callbacks = []
        self._close_callbacks.append(callback)

    def close(self, reason: str = CLOSED) -> None:
        if self.close_reason is not None:
            return
        callbacks, self._close_callbacks = self._close_callbacks or [], None
        self._release(reason)
        for callback in callbacks:
            try:
                callback(reason)
            except Exception:  # a consumer's callback must not break the reader
                log.exception("subscription close callback failed")

    def _release(self, reason: str = CLOSED) -> None:
        """Closed by its consumer (leaving `async with`): no callbacks."""
        if self.close_reason is None:
            self.close_reason = reason
        self._queue = []
        self._buffer = None
        self._close_callbacks = None
        self._wake()

    # --- bus side (synchronous, called from the reader task) ---------------------------------

    def _deliver(self, event: Event) -> None:
        if self.close_reason is not None:
            return
        if event.seq is None:  # ephemeral: no order with durable events, no history
            if self._buffer is None or len(self._queue) < self.maxsize:
                self._enqueue(event)
            return
        if self._buffer is not None:
            if len(self._buffer) < self.maxsize:
                self._buffer.append(event)
            else:  # history will be read again, so nothing is lost
                self._reread = True
            return
        if event.seq <= self.position:
            return
        self.position = event.seq
        self._enqueue(event)

    def _resync(self) -> None:
        """Redis came back: live events may have been missed, read history after `position`."""
        if self.close_reason is not None:
            return
        if self._buffer is None:
            self._buffer = []
        self._reread = True
        self._wake()

    def _enqueue(self, event: Event) -> None:
        if len(self._queue) >= self.maxsize:
            self._bus.metrics.slow_consumers.labels(self.transport or "internal").inc()
            self.close(SLOW_CONSUMER)
            return
        self._queue.append(event)
        self._wake()

    def _expire(self) -> None:
        self._timed_out = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def begin_at(self, position: int) -> None:
        self.position = self.start_position = position

    def _apply(self, page: list[Event], *, more: bool) -> None:
        """Queue a page of history; go live if it was the last page and the buffer fits."""
        if self.close_reason is not None:
            return
        for event in page:
            if event.seq is not None and event.seq > self.position:
                self._queue.append(event)
                self.position = event.seq
        buffer = self._buffer or []
        if more or self._reread or len(self._queue) + len(buffer) > self.maxsize:
            # More history to read; buffered events will come again from history.
            self._buffer = []
            self._reread = False
            return
        for event in buffer:
            if event.seq is not None and event.seq > self.position:
                self._queue.append(event)
                self.position = event.seq
        self._buffer = None
        if self._queue:
            self._wake()

    async def _catch_up(self) -> None:
        self._reread = False
        try:
            page, complete = await self._bus.history(self.channel, self.position, self.maxsize)
        except Exception:
            log.exception("catch-up of %s failed", self.channel)
            self.close(UNAVAILABLE)
            return
        if self.close_reason is not None:
            return
        if not complete:
            # Only after an outage longer than the history window: the consumer must resync.
            log.warning("subscription to %s lost history after %s", self.channel, self.position)
            self.close(HISTORY_LOST)
            return
        self._apply(page, more=len(page) >= self.maxsize)
