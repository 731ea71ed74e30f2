"""Request authentication and role checks, in one place.

Handlers declare their roles with `@requires("client")`; the principal is then `principal(request)`.
Public endpoints with optional auth use `@optional_auth`: no token is anonymous, a bad token is 401.
"""
from __future__ import annotations

import collections
import datetime as dt
import functools
import logging
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web
from redis.exceptions import RedisError

from domain.errors import Forbidden, Unauthorized
from gateway import keys, tokens
from storage import accounts
from storage.redis import Keys

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Principal:
    id: uuid.UUID
    role: str
    jti: uuid.UUID
    claims: tokens.Claims


PRINCIPAL = web.RequestKey("principal", Principal)


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


def denylist_key(app: web.Application, jti: uuid.UUID) -> str:
    return Keys(app[keys.SETTINGS].redis_prefix)("denied-jti", jti)


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


async def revoked_jtis(app: web.Application, jtis: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these access-token ids are denylisted (logged out). While Redis is unreachable: none,
    as for `authenticate`."""
    ordered = list(jtis)
    revoked: set[uuid.UUID] = set()
    try:
        for start in range(0, len(ordered), 500):
            chunk = ordered[start:start + 500]
            values = await app[keys.REDIS].mget([denylist_key(app, jti) for jti in chunk])
            revoked.update(jti for jti, value in zip(chunk, values) if value is not None)
    except RedisError:
        log.warning("token denylist unavailable; held connections keep their tokens")
    return revoked


async def authenticate(request: web.Request, token: str) -> Principal:
    app = request.app
    claims = _access_claims(app[keys.SETTINGS].jwt_secret, token, app[keys.CLOCK].now())
    try:
        if await app[keys.REDIS].exists(denylist_key(app, claims.jti)):
            raise Unauthorized("Token revoked", code="TOKEN_REVOKED")
    except RedisError:
        # Availability over strictness while Redis is down: the refresh family is revoked in the
        # database anyway, and an access token lives at most 30 minutes.
        log.warning("token denylist unavailable; accepting unexpired token")
    async with app[keys.DB].connect() as conn:
        if not await accounts.is_active(conn, claims.role, claims.subject):
            raise Unauthorized("Account inactive", code="ACCOUNT_INACTIVE")
    return Principal(id=claims.subject, role=claims.role, jti=claims.jti, claims=claims)


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
