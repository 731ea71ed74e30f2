"""The process's Redis client (storage.redis) against the real server."""
from __future__ import annotations

import asyncio
import random

from storage.redis import create_redis


async def test_a_cancellation_during_a_command_is_never_lost(settings):
    """redis-py's own write bound (asyncio.wait_for on Python 3.11) returned instead of raising a
    cancellation that landed as the write finished, about once in ten here: a background loop
    cancelled at shutdown ran on."""
    redis = create_redis(settings.redis_url)
    channel = f"{settings.redis_prefix}cancel-test"

    async def publishing() -> None:
        while True:
            await redis.publish(channel, b"x")

    try:
        for _ in range(150):
            task = asyncio.create_task(publishing())
            await asyncio.sleep(random.random() * 0.004)
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
            assert task.cancelled(), "the cancellation was lost: the loop ran on"
    finally:
        await redis.aclose()
