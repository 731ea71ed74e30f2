"""Fixed-window rate limits in Redis, shared by every server process; an in-process fallback while
Redis is unavailable.

`enforce(app, [Limit(...), ...])` counts one hit against each limit and raises 429 with
`Retry-After` (seconds until the window that tripped resets) when any is exceeded. It returns True
when Redis counted, False when the fallback did.

FALLBACK (Redis unreachable, or its circuit breaker open: storage.redis_breaker, so no request waits
on it). The limits stay in force, stricter, never open:
- each process counts in memory, with `max_hits // WORKERS` (at least 1) per window, so the
  processes of one server together stay within the limit;
- counts start from what Redis last answered this process for the same subject (every Redis answer
  is remembered while its window runs), so an outage does not hand out a fresh window;
- when the fallback cannot count (more subjects than FALLBACK_MAX_KEYS in live windows) it refuses
  (503 RATE_LIMIT_UNAVAILABLE): these limits guard a paid channel (SMS) and brute force.
OTP sends are also spaced in PostgreSQL while degraded (services.auth.request_otp `min_interval`),
which holds across every process and host. After Redis is back it counts again from what it holds.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from aiohttp import web
from redis.exceptions import RedisError

from domain.errors import ServiceUnavailable, TooManyRequests
from gateway import keys
from storage.redis import Keys, breaker_of

log = logging.getLogger(__name__)
FALLBACK_MAX_KEYS = 100_000

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


class FallbackLimiter:
    """This process's fixed windows while Redis cannot count (module docstring)."""

    def __init__(self, share: int = 1, *, max_keys: int = FALLBACK_MAX_KEYS,
                 now=time.monotonic) -> None:
        self.share = max(1, share)
        self.max_keys = max_keys
        self._now = now
        self._windows: dict[str, tuple[int, float]] = {}  # key → (hits, window end: monotonic)
        self._next_purge = 0.0

    def observe(self, key: str, hits: int, ttl_ms: int) -> None:
        """Remember what Redis counted (for all processes) for this key's current window."""
        if key in self._windows or self._room():
            self._windows[key] = (hits, self._now() + max(ttl_ms, 0) / 1000)

    def hit(self, key: str, limit: "Limit") -> int:
        """Count one hit; seconds until the window resets if over this process's share, else 0."""
        now = self._now()
        hits, ends = self._windows.get(key, (0, 0.0))
        if ends <= now:
            if key not in self._windows and not self._room():
                log.error("rate limit fallback is full (%d subjects); refusing", len(self._windows))
                raise ServiceUnavailable("Service temporarily unavailable, try again shortly",
                                         code="RATE_LIMIT_UNAVAILABLE")
            hits, ends = 0, now + limit.window
        hits += 1
        self._windows[key] = (hits, ends)
        budget = max(1, limit.max_hits // self.share)
        return max(1, int(-(-(ends - now) // 1))) if hits > budget else 0

    def _room(self) -> bool:
        """Whether a new subject fits; ended windows are dropped first (at most once a second)."""
        if len(self._windows) < self.max_keys:
            return True
        now = self._now()
        if now >= self._next_purge:
            self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
            self._next_purge = now + 1.0
        return len(self._windows) < self.max_keys


FALLBACK = web.AppKey("ratelimit_fallback", FallbackLimiter)


async def enforce(app: web.Application, limits: list[Limit], *, detail: str = "Too many requests") -> bool:
    """Count a hit against each limit (429 when one is exceeded); True if Redis counted, False if the
    in-process fallback did (Redis unavailable)."""
    redis = app[keys.REDIS]
    retry_after = 0
    names = [_key(app, limit) for limit in limits]
    fallback = app.get(FALLBACK)
    breaker = breaker_of(redis)
    counted = breaker is None or not breaker.is_open
    if counted:
        try:
            for key, limit in zip(names, limits):
                hits, ttl_ms = await redis.eval(_HIT, 1, key, limit.window * 1000)
                if fallback is not None:
                    fallback.observe(key, int(hits), int(ttl_ms))
                if int(hits) > limit.max_hits:
                    retry_after = max(retry_after, -(-int(ttl_ms) // 1000))
        except RedisError as exc:
            log.warning("rate limits counted in process: Redis unavailable (%s)", type(exc).__name__)
            counted = False
            retry_after = 0
    if not counted:
        if fallback is None:  # fail closed: these limits guard money (SMS) and brute force
            raise ServiceUnavailable("Service temporarily unavailable, try again shortly")
        for key, limit in zip(names, limits):
            retry_after = max(retry_after, fallback.hit(key, limit))
    if retry_after:
        raise TooManyRequests(detail, retry_after=retry_after)
    return counted
