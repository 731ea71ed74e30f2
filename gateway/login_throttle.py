"""Password logins (doctor, admin) throttled per account and per client IP, in Redis, so every
server process shares the counts.

Failed attempts are counted over `login_failure_window` per account (the login as submitted,
lower-cased and hashed: an unknown account is counted exactly like a known one, so the answers
never tell them apart) and per IP. Reaching `login_max_failures` (account) or
`login_max_failures_per_ip` (IP) locks that account or IP for `login_lockout` seconds: every attempt
then answers 429 `LOGIN_LOCKED` with Retry-After, without the password being checked, the right one
included. A successful login clears its account's failures (not its IP's).

Redis unreachable: 503, like gateway.ratelimit's refusals (a brute-force guard does not fail open).
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import AsyncIterator

from aiohttp import web
from redis.exceptions import RedisError

from domain.errors import ServiceUnavailable, TooManyRequests, Unauthorized
from gateway import keys
from storage.redis import Keys

log = logging.getLogger(__name__)
LOCKED = "Too many failed login attempts; try again later"

# Remaining lock time (ms) of the account and of the IP; a key that is not there: -2.
_LOCKS = "return {redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2])}"
# One failure: KEYS failures, lock; ARGV window ms, max failures, lockout ms. Counting and locking
# in one step, so concurrent failures cannot all slip under the limit.
_FAIL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
end
return n
"""


class _Throttle:
    def __init__(self, app: web.Application, kind: str, login: str, ip: str) -> None:
        settings = app[keys.SETTINGS]
        self.settings = settings
        self.redis = app[keys.REDIS]
        key = Keys(settings.redis_prefix)
        account = hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]
        address = hashlib.sha256(ip.encode()).hexdigest()[:32]
        self.account = (key("login", kind, "fail", account), key("login", kind, "lock", account))
        self.ip = (key("login", "ip", "fail", address), key("login", "ip", "lock", address))

    async def check(self) -> None:
        account_ms, ip_ms = await self.redis.eval(_LOCKS, 2, self.account[1], self.ip[1])
        remaining = max(int(account_ms), int(ip_ms))
        if remaining > 0:
            raise TooManyRequests(LOCKED, retry_after=-(-remaining // 1000), code="LOGIN_LOCKED")

    async def failed(self) -> None:
        s = self.settings
        window, lockout = s.login_failure_window * 1000, s.login_lockout * 1000
        await self.redis.eval(_FAIL, 2, *self.account, window, s.login_max_failures, lockout)
        await self.redis.eval(_FAIL, 2, *self.ip, window, s.login_max_failures_per_ip, lockout)

    async def succeeded(self) -> None:
        await self.redis.delete(self.account[0])


@contextlib.asynccontextmanager
async def guard(app: web.Application, kind: str, login: str, ip: str) -> AsyncIterator[None]:
    """`async with guard(app, "doctor", email, ip): <the login>`: 429 while locked; a 401 from the
    login counts as a failure."""
    throttle = _Throttle(app, kind, login, ip)
    try:
        await throttle.check()
    except RedisError:
        raise _unavailable() from None
    try:
        yield
    except Unauthorized:
        try:
            await throttle.failed()
        except RedisError:
            raise _unavailable() from None
        raise
    try:
        await throttle.succeeded()
    except RedisError:
        log.warning("login throttle: could not clear an account's failures (Redis error)")


def _unavailable() -> ServiceUnavailable:
    log.error("login throttle unavailable (Redis error)")
    return ServiceUnavailable("Service temporarily unavailable, try again shortly")
