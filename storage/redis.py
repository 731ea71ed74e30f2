"""One Redis client per process, and the key namespace every module goes through.

The client's connections sit behind a circuit breaker (storage.redis_breaker): after a connection
failure nothing is sent to Redis, and no connection is attempted, until a background probe gets an
answer; commands meanwhile fail at once with RedisUnavailable (a RedisError).
"""
from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

from storage.redis_breaker import RedisBreaker, RedisUnavailable

__all__ = ["create_redis", "close_redis", "breaker_of", "pin", "Keys", "RedisBreaker", "RedisUnavailable"]


def create_redis(url: str) -> aioredis.Redis:
    client = aioredis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    pool = client.connection_pool  # no connection is made before the first command

    async def probe() -> None:
        conn = pool.make_connection()
        conn.probing = True
        try:
            await conn.connect_check_health(check_health=False, retry_socket_connect=False)
            await conn.send_command("PING", check_health=False)
            await conn.read_response()
        finally:
            await conn.disconnect(nowait=True)
        # Redis answers again (maybe a new server): idle pooled connections to the old one would each
        # fail their next command, and open the breaker again. They connect anew instead.
        await pool.disconnect(inuse_connections=False)

    base = pool.connection_class
    pool.connection_class = type(base.__name__, (_WriteInCallersTask, base), {"breaker": RedisBreaker(probe)})
    return client


def breaker_of(client: Any) -> RedisBreaker | None:
    """The breaker of a client made by create_redis (None for any other client)."""
    pool = getattr(client, "connection_pool", None)
    return getattr(getattr(pool, "connection_class", None), "breaker", None)


def pin(conn: Any) -> Any:
    """A dedicated connection (the bus listener's pub/sub) keeps sending on its live socket while the
    breaker is open; it still connects only while the breaker is closed."""
    conn.pinned = True
    return conn


async def close_redis(client: aioredis.Redis) -> None:
    breaker = breaker_of(client)
    if breaker is not None:
        await breaker.stop()
    await client.aclose()


class _WriteInCallersTask:
    """redis-py bounds every write by socket_timeout with asyncio.wait_for, which on Python 3.11 runs
    the write in a task of its own and, when a cancellation lands just as that task finishes, returns
    instead of raising it. The event relay, cancelled at shutdown during its Redis call, then ran on
    and the shutdown hung (1 cancellation in 10 in a loop of them). The same bound here comes from
    asyncio.timeout, in the caller's task; otherwise this is redis-py 8.1's send_packed_command.

    It also puts the circuit breaker in front of every connect and send (module docstring)."""

    breaker: RedisBreaker
    probing = False  # the breaker's own probe: goes through while it is open
    pinned = False   # see pin()

    def _tripped(self: Any, exc: BaseException) -> None:
        if not self.probing:
            self.breaker.trip(exc)

    async def connect_check_health(self: Any, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        if self.is_connected:
            return
        if not self.probing:
            self.breaker.check()
        try:
            await super().connect_check_health(check_health, retry_socket_connect)  # type: ignore[misc]
        except (RedisConnectionError, RedisTimeoutError) as exc:
            self._tripped(exc)
            raise

    async def read_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)  # type: ignore[misc]
        except (RedisConnectionError, RedisTimeoutError) as exc:
            self._tripped(exc)
            raise

    async def send_packed_command(self: Any, command: Any, check_health: bool = True) -> None:
        if not (self.probing or self.pinned):
            self.breaker.check()
        try:
            await self._send_packed_command(command, check_health)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            self._tripped(exc)
            raise

    async def _send_packed_command(self: Any, command: Any, check_health: bool) -> None:
        if not self.socket_timeout:
            return await super().send_packed_command(command, check_health)  # type: ignore[misc]
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        try:
            async with asyncio.timeout(self.socket_timeout):
                self._writer.writelines(command)
                await self._writer.drain()
        except TimeoutError:  # before OSError, its base class
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket: {exc}") from exc
        except BaseException:
            await self.disconnect(nowait=True)  # a write cut short leaves the stream unusable
            raise


class Keys:
    """Namespaced Redis keys, so several deployments (and parallel test runs) share one server."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)
