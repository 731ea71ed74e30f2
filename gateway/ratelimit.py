"""Fixed-window rate limits in Redis, shared by every server process.

`enforce(app, [Limit(...), ...])` counts one hit against each limit and raises 429 with
`Retry-After` (seconds until the window that tripped resets) when any is exceeded.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from aiohttp import web
from redis.exceptions import RedisError

from domain.errors import ServiceUnavailable, TooManyRequests
from gateway import keys
from storage.redis import Keys

log = logging.getLogger(__name__)

# INCR and the window's expiry in one step, so a crash between the two cannot leave an immortal key.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


@dataclass(frozen=True)
class Limit:
    scope: str        # e.g. "otp-phone"
    subject: str      # e.g. the phone number or client IP; hashed before it becomes a key
    max_hits: int
    window: int       # seconds


def _key(app: web.Application, limit: Limit) -> str:
    # Hashed so Redis holds no phone numbers or addresses in clear.
    digest = hashlib.sha256(limit.subject.encode()).hexdigest()[:32]
    return Keys(app[keys.SETTINGS].redis_prefix)("rl", limit.scope, digest)


async def enforce(app: web.Application, limits: list[Limit], *, detail: str = "Too many requests") -> None:
    redis = app[keys.REDIS]
    retry_after = 0
    try:
        for limit in limits:
            hits, ttl_ms = await redis.eval(_HIT, 1, _key(app, limit), limit.window * 1000)
            if int(hits) > limit.max_hits:
                retry_after = max(retry_after, -(-int(ttl_ms) // 1000))
    except RedisError:
        # Fail closed: these limits guard money (SMS) and brute force.
        log.error("rate limiter unavailable (Redis error)")
        raise ServiceUnavailable("Service temporarily unavailable, try again shortly") from None
    if retry_after:
        raise TooManyRequests(detail, retry_after=retry_after)
