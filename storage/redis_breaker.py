"""A circuit breaker in front of Redis: one failure opens it, a background probe closes it.

Closed (normal): commands go to Redis. The first connection failure (refused, reset, a connect or
read timeout) opens it; from then on every command of the process fails at once with
`RedisUnavailable`, without a connection attempt, a retry or a backoff sleep, so a request that
would have touched Redis (a rate limit, a relay wake-up, a history read) goes straight to its
fallback and REST latency does not change. One probe (a fresh connection and a PING, at most
every PROBE_INTERVAL) is all the traffic a dead Redis sees from the process; when a probe
succeeds the breaker closes, and whoever waited for it (the bus listener, the event relay) is
woken at once.

The breaker works at the connection level (storage.redis installs it on the client's connection
class): every user of the client is covered, none needs to check it first. The bus listener's
pub/sub connection is `pinned`: it may keep sending on a live socket while the breaker is open (a
timeout elsewhere must not cut its subscriptions), and its own failures open the breaker as any
other's do.
"""
from __future__ import annotations

import asyncio
import logging
import math
from typing import Any, Awaitable, Callable

from redis.exceptions import RedisError

from common.tasks import stop_task

log = logging.getLogger(__name__)

PROBE_INTERVAL = 0.5   # seconds between probes while open
PROBE_TIMEOUT = 2.0    # one probe's connect + PING


class RedisUnavailable(RedisError):
    """The breaker is open: Redis was found unreachable and has not answered a probe since.
    Not a redis ConnectionError on purpose: redis-py retries those (with backoff sleeps)."""


class RedisBreaker:
    def __init__(self, probe: Callable[[], Awaitable[None]], *, interval: float = PROBE_INTERVAL) -> None:
        self._probe = probe
        self.interval = interval
        self.is_open = False
        self.opened_at = math.nan   # loop time of the last opening
        self.trips = 0              # how many times it opened (tests, metrics)
        self.probes = 0             # probes made (each one connection attempt)
        self._task: asyncio.Task | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._on_close: list[Callable[[], Any]] = []

    # --- state ------------------------------------------------------------------------------

    def check(self) -> None:
        if self.is_open:
            raise RedisUnavailable("Redis unavailable (circuit open until a probe succeeds)")

    def trip(self, exc: BaseException) -> None:
        """A connection failed: open, and probe in the background until Redis answers."""
        if self.is_open:
            return
        loop = asyncio.get_running_loop()
        self.is_open = True
        self.opened_at = loop.time()
        self.trips += 1
        log.warning("Redis unavailable (%s); not tried again until a probe succeeds (every %.1f s)",
                    type(exc).__name__, self.interval)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._probing(), name="redis-breaker-probe")

    def _close(self) -> None:
        self.is_open = False
        log.warning("Redis is back (down %.1f s)", asyncio.get_running_loop().time() - self.opened_at)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        for callback in list(self._on_close):
            try:
                callback()
            except Exception:
                log.exception("Redis breaker close callback failed")

    def on_close(self, callback: Callable[[], Any]) -> None:
        """`callback()` each time the breaker closes (Redis answered a probe again)."""
        self._on_close.append(callback)

    async def wait_closed(self, timeout: float) -> bool:
        """Return once the breaker is closed (at once if it is) or after `timeout`; whether closed."""
        if not self.is_open:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(timeout, lambda: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        finally:
            timer.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return not self.is_open

    # --- probing ----------------------------------------------------------------------------

    async def _probing(self) -> None:
        while self.is_open:
            await asyncio.sleep(self.interval)
            self.probes += 1
            try:
                async with asyncio.timeout(PROBE_TIMEOUT):
                    await self._probe()
            except asyncio.CancelledError:
                raise
            except Exception:
                continue
            self._close()

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
