"""One Redis client per process, and the key namespace every module goes through."""
from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError


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
    pool.connection_class = type(pool.connection_class.__name__, (_WriteInCallersTask, pool.connection_class), {})
    return client


class _WriteInCallersTask:
    """redis-py bounds every write by socket_timeout with asyncio.wait_for, which on Python 3.11 runs
    the write in a task of its own and, when a cancellation lands just as that task finishes, returns
    instead of raising it. The event relay, cancelled at shutdown during its Redis call, then ran on
    and the shutdown hung (1 cancellation in 10 in a loop of them). The same bound here comes from
    asyncio.timeout, in the caller's task; otherwise this is redis-py 8.1's send_packed_command."""

    async def send_packed_command(self: Any, command: Any, check_health: bool = True) -> None:
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
