"""Request authentication and role checks, in one place.

Handlers declare their roles with `@requires("client")`; the principal is then `principal(request)`.
Public endpoints with optional auth use `@optional_auth`: no token is anonymous, a bad token is 401.

An access token is refused when it is malformed, expired, logged out (its jti), its login was
revoked (its family: logout, refresh-token reuse, password change), its account's tokens issued
before a moment were revoked (password change), or its account is inactive. Authentication answers
all of that from memory, with no Redis and no database round trip of its own.

REVOCATION VIEW (the one place its bound is written down)
- Every revocation is a row of `auth_revocations` written in the transaction that makes it (logout,
  refresh reuse, admin password change; account activity changes by triggers, whoever makes them:
  the API or an operator's SQL). Ids of that log become visible in id order (migration 0011).
- Each process holds a `RevocationView`: loaded whole at start (log rows in force, inactive
  accounts, from one snapshot), then following the log with `id > cursor` every POLL_INTERVAL
  (0.2 s) on a PostgreSQL connection of its own, and loaded whole again every FULL_REFRESH_INTERVAL
  (30 s) and after any error, as a safety net (it also drops expired entries).
- BOUND: the view is *current* while its last successful pass started at most STALENESS_BOUND
  (1 s) ago. A pass's snapshot contains every commit that completed before the pass started, so a
  revocation committed (and answered) on any process is enforced by every process for every
  request authenticated 1 s later; usually within 0.2 s. The process that commits a revocation
  waits for a pass of its own view (`sync`) before answering, so its own next request sees it.
- FAILURE MODE: the view is fed by PostgreSQL, not Redis: Redis being down changes nothing here
  (logout no longer touches Redis). When the view is not current (database unreachable or slow,
  event loop stalled), a request is checked directly in the database, exactly as strictly, with one
  statement (`storage.accounts.access_state`); if that fails too the request is a 503 with
  Retry-After: 1 (DATABASE_UNAVAILABLE when PostgreSQL cannot be reached, as every endpoint then
  answers, or no pooled connection is free in time; AUTH_UNAVAILABLE for any other failure):
  never a token accepted on stale knowledge. A
  `sync` that does not complete within SYNC_TIMEOUT marks the view not current until it has been
  loaded whole again.
- What the view does not do: a token's account is not looked up on each request; an account that is
  deleted gets a mark refusing its tokens (for a day, by trigger), and tokens are only issued for
  existing accounts. Held connections (SSE, websockets) are checked against the view every second
  (gateway.connections); while it is not current they are left open and checked once it is again.
"""
from __future__ import annotations

import asyncio
import collections
import datetime as dt
import functools
import logging
import math
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

import asyncpg
from aiohttp import web
from prometheus_client import Gauge

from common.tasks import Wakeup, stop_task
from domain.errors import Forbidden, ServiceUnavailable, Unauthorized
from domain import tokens
from gateway import keys
from storage import accounts, driver
from storage.pool import DatabaseUnavailable, PoolTimeout

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STALENESS_BOUND = 1.0         # seconds: the view older than this is not trusted
POLL_INTERVAL = 0.2           # seconds between passes that follow the log
FULL_REFRESH_INTERVAL = 30.0  # seconds between full loads (safety net, drops expired entries)
PRUNE_INTERVAL = 300.0        # seconds between deletions of long-expired log rows (any process may)
SYNC_TIMEOUT = 2.0            # how long `sync` waits for a pass before distrusting the view
QUERY_TIMEOUT = 5.0
LOG_BATCH = 1000


@dataclass(frozen=True)
class Principal:
    id: uuid.UUID
    role: str
    jti: uuid.UUID
    claims: tokens.Claims


PRINCIPAL = web.RequestKey("principal", Principal)


def _revoked() -> Unauthorized:
    return Unauthorized("Token revoked", code="TOKEN_REVOKED")


def _inactive() -> Unauthorized:
    return Unauthorized("Account inactive", code="ACCOUNT_INACTIVE")


class RevocationView:
    """This process's copy of what makes a signed, unexpired access token invalid (module docstring)."""

    def __init__(self, database_url: str, now: Callable[[], dt.datetime], *, poll_interval: float,
                 full_refresh: float, bound: float) -> None:
        self._dsn = driver.plain_dsn(database_url)
        self._now = now
        self.poll_interval = poll_interval
        self.full_refresh = full_refresh
        self.bound = bound
        self.tokens: dict[uuid.UUID, dt.datetime] = {}                 # jti → until
        self.families: dict[uuid.UUID, dt.datetime] = {}               # family → until
        self.marks: dict[tuple[str, uuid.UUID], tuple[dt.datetime, dt.datetime]] = {}  # → (not_before, until)
        self.inactive: set[tuple[str, uuid.UUID]] = set()              # (role, account id)
        self.cursor = 0
        self._fresh_until = -math.inf  # loop time
        self._loaded = False
        self._generation = 0  # bumped by invalidate(): a pass begun before it does not count
        self._next_full = 0.0
        self._next_prune = 0.0
        self._waiters: list[asyncio.Future[bool]] = []
        self._wakeup = Wakeup()
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None
        self._failing = False
        self._last_good = -math.inf  # loop time the last successful pass began

    # --- reading (every request) -----------------------------------------------------------

    def current(self) -> bool:
        return asyncio.get_running_loop().time() <= self._fresh_until

    def age(self) -> float:
        """Seconds since the last successful pass began (inf before the first): how stale the view
        is. Current while at most `bound`; the metric allign_auth_revocation_view_age_seconds."""
        return max(0.0, asyncio.get_running_loop().time() - self._last_good)

    def refusal(self, claims: tokens.Claims) -> Unauthorized | None:
        """Why this (signed, unexpired) token is refused, or None; only meaningful while `current()`."""
        if claims.jti in self.tokens or (claims.family is not None and claims.family in self.families):
            return _revoked()
        account = (claims.role, claims.subject)
        mark = self.marks.get(account)
        if mark is not None and claims.issued_at < mark[0]:
            return _revoked()
        if account in self.inactive:
            return _inactive()
        return None

    # --- keeping current -------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="auth-revocation-view")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._drop_connection()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(False)

    async def sync(self) -> None:
        """Return once a pass begun after this call has been applied: a revocation this process
        committed before calling is then in force here. If none completes within SYNC_TIMEOUT, the
        view is distrusted (direct checks) until it has been loaded whole again."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        self._wakeup.set()
        timer = loop.call_later(SYNC_TIMEOUT, _resolve, waiter, False)
        try:
            ok = await waiter
        finally:
            timer.cancel()
        if not ok:
            log.warning("revocation view did not catch up within %.1f s; checking tokens in the database "
                        "until it is loaded again", SYNC_TIMEOUT)
            self.invalidate()

    def invalidate(self) -> None:
        """Not current from now on, until a pass begun after this call has loaded everything again."""
        self._fresh_until = -math.inf
        self._loaded = False
        self._generation += 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.05
        while True:
            waiters, self._waiters = self._waiters, []
            self._wakeup.clear()
            started, generation = loop.time(), self._generation
            try:
                if self._conn is None or self._conn.is_closed():
                    self._loaded = False
                    self._conn = await asyncpg.connect(self._dsn, timeout=QUERY_TIMEOUT, server_settings={
                        "application_name": "allign-auth-view"})
                if not self._loaded or started >= self._next_full:
                    await self._load(self._conn)
                    self._next_full = started + self.full_refresh
                else:
                    await self._follow(self._conn)
            except asyncio.CancelledError:
                self._waiters[:0] = waiters
                raise
            except Exception as exc:
                for waiter in waiters:
                    _resolve(waiter, False)
                if not self._failing:
                    log.warning("revocation view cannot read the database (%s); tokens are checked in the "
                                "database per request until it can", type(exc).__name__)
                    self._failing = True
                self._drop_connection()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
                continue
            if generation == self._generation:
                self._fresh_until = started + self.bound
            previous_good, self._last_good = self._last_good, started
            if self._failing:
                if previous_good > -math.inf:
                    log.warning("revocation view is current again (it was %.1f s stale)", started - previous_good)
                else:
                    log.warning("revocation view loaded: the database is reachable")
                self._failing = False
            backoff = 0.05
            for waiter in waiters:
                _resolve(waiter, True)
            if started >= self._next_prune:
                self._next_prune = started + PRUNE_INTERVAL
                await self._prune()
            await self._wakeup.wait(self.poll_interval)

    async def _prune(self) -> None:
        try:
            await accounts.prune_revocations(self._conn, QUERY_TIMEOUT)
        except Exception as exc:  # the next pass finds out whether the connection is still good
            log.warning("revocation log pruning failed (%s)", type(exc).__name__)

    async def _load(self, conn: asyncpg.Connection) -> None:
        snapshot = await accounts.load_view(conn, self._now(), QUERY_TIMEOUT)
        self.tokens, self.families, self.marks = {}, {}, {}
        self.inactive = set(snapshot.inactive)
        for row in snapshot.revocations:
            self._apply(row)
        self.cursor = snapshot.cursor
        self._loaded = True
        await self._follow(conn)  # what committed since, so a load is as current as a poll

    async def _follow(self, conn: asyncpg.Connection) -> None:
        while True:
            rows = await accounts.revocations_after(conn, self.cursor, LOG_BATCH, QUERY_TIMEOUT)
            for row in rows:
                self._apply(row)
            if rows:
                self.cursor = rows[-1]["id"]
            if len(rows) < LOG_BATCH:
                return

    def _apply(self, row: Any) -> None:
        kind, ref, until = row["kind"], row["ref"], row["expires_at"]
        if kind == "token":
            self.tokens[ref] = until
        elif kind == "family":
            self.families[ref] = until
        elif kind == "subject":
            account = (row["role"], ref)
            not_before, known_until = self.marks.get(account, (row["not_before"], until))
            self.marks[account] = (max(not_before, row["not_before"]), max(known_until, until))
        elif kind == "inactive":
            self.inactive.add((row["role"], ref))
        elif kind == "active":
            self.inactive.discard((row["role"], ref))

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)


REVOCATIONS = web.AppKey("revocation_view", RevocationView)


async def revocation_view_ctx(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the view is loaded (or has tried once) before the app serves requests."""
    view = RevocationView(app[keys.SETTINGS].database_url, app[keys.CLOCK].now, poll_interval=POLL_INTERVAL,
                          full_refresh=FULL_REFRESH_INTERVAL, bound=STALENESS_BOUND)
    app[REVOCATIONS] = view
    Gauge("allign_auth_revocation_view_age_seconds", "Seconds since the revocation view's last successful "
          "read of the log (stale past 1 s: tokens are then checked in the database)",
          registry=app[keys.METRICS].registry).set_function(view.age)
    view.start()
    await view.sync()  # at most SYNC_TIMEOUT; until it is loaded, tokens are checked in the database
    yield
    await view.stop()


async def sync(app: web.Application) -> None:
    """After committing a revocation: make it effective in this process before answering."""
    view = app.get(REVOCATIONS)
    if view is not None:
        await view.sync()


def bearer_token(request: web.Request, *, allow_query: bool = False) -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Invalid authorization header")
        return value.strip()
    if allow_query:
        return request.query.get("access_token") or None
    return None


# Access tokens whose signature and claims were verified, by (secret, token): verifying them again
# would give the same answer, so a client pays for the JWT check once per token, not per request.
# Expiry is checked again on every use (tokens.decode, once expired); revocation and the account's
# state are checked on every request below.
_VERIFIED: collections.OrderedDict[tuple[str, str], tokens.Claims] = collections.OrderedDict()
_VERIFIED_LIMIT = 4096


def _access_claims(secret: str, token: str, now: dt.datetime) -> tokens.Claims:
    claims = _VERIFIED.get((secret, token))
    if claims is None or claims.expires_at <= now:
        claims = tokens.decode(secret, token, expected_type="access", now=now)  # raises if invalid or expired
        _VERIFIED[(secret, token)] = claims
        if len(_VERIFIED) > _VERIFIED_LIMIT:
            _VERIFIED.popitem(last=False)
    return claims


async def _refusal_from_database(app: web.Application, claims: tokens.Claims) -> Unauthorized | None:
    """The view is not current: the same rules, read from the database. If that fails too: 503."""
    refs = [claims.jti] if claims.family is None else [claims.jti, claims.family]
    try:
        async with app[keys.DB].connect() as conn:
            active, revoked = await accounts.access_state(conn, claims.role, claims.subject, refs, claims.issued_at)
    except (PoolTimeout, DatabaseUnavailable, asyncpg.QueryCanceledError):
        raise  # 503 DATABASE_UNAVAILABLE (gateway.middlewares), as every endpoint answers
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        log.warning("token check: revocation view not current and the database check failed (%s)",
                    type(exc).__name__)
        raise ServiceUnavailable("Authentication temporarily unavailable; try again shortly", code="AUTH_UNAVAILABLE",
                                 headers={"Retry-After": "1"}) from None
    if revoked:
        return _revoked()
    if not active:
        return _inactive()
    return None


async def authenticate(request: web.Request, token: str) -> Principal:
    app = request.app
    claims = _access_claims(app[keys.SETTINGS].jwt_secret, token, app[keys.CLOCK].now())
    view = app.get(REVOCATIONS)
    if view is not None and view.current():
        refusal = view.refusal(claims)
    else:
        refusal = await _refusal_from_database(app, claims)
    if refusal is not None:
        raise refusal
    return Principal(id=claims.subject, role=claims.role, jti=claims.jti, claims=claims)


async def revoked_jtis(app: web.Application, principals: Iterable[Principal]) -> set[uuid.UUID]:
    """Which of these held connections' tokens are no longer valid (logout, revoked login, password
    change, deactivation), by jti. While the view is not current: none (checked again once it is)."""
    view = app.get(REVOCATIONS)
    if view is None or not view.current():
        return set()
    return {p.jti for p in principals if view.refusal(p.claims) is not None}


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def maybe_principal(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def requires(*roles: str, allow_query_token: bool = False) -> Callable[[Handler], Handler]:
    """Authenticate, then 403 unless the token's role is one of `roles` (empty = any role)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            token = bearer_token(request, allow_query=allow_query_token)
            if not token:
                raise Unauthorized()
            who = await authenticate(request, token)
            if roles and who.role not in roles:
                raise Forbidden("This action is not allowed for your role", code="WRONG_ROLE")
            request[PRINCIPAL] = who
            return await handler(request)

        wrapper.__allign_roles__ = roles  # read by the OpenAPI generator
        return wrapper

    return decorate


def optional_auth(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        token = bearer_token(request)
        if token:
            request[PRINCIPAL] = await authenticate(request, token)
        return await handler(request)

    return wrapper
