"""JWT access/refresh tokens: HS256 only, on both sides (the decoder accepts no other algorithm); the
token pair a login issues; what a revocation refuses and for how long.

Refresh tokens rotate in families: every login starts a family, a refresh issues the next pair in
the same family, and every access token carries its family (`fam` claim), so revoking a login
(logout, a reused refresh token, a password change) also refuses the access tokens issued in it.
A refresh token is stored only as its `fingerprint`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Iterable

import jwt

from domain.errors import Unauthorized

ALGORITHM = "HS256"
ROLES = ("client", "doctor", "admin")


@dataclass(frozen=True)
class Claims:
    subject: uuid.UUID
    role: str
    type: str
    jti: uuid.UUID
    issued_at: dt.datetime
    expires_at: dt.datetime
    family: uuid.UUID | None = None


def encode(secret: str, *, subject: uuid.UUID, role: str, type_: str, ttl: int, now: dt.datetime,
           family: uuid.UUID | None = None, jti: uuid.UUID | None = None) -> tuple[str, Claims]:
    claims = Claims(subject=subject, role=role, type=type_, jti=jti or uuid.uuid4(), issued_at=now,
                    expires_at=now + dt.timedelta(seconds=ttl), family=family)
    payload = {"sub": str(subject), "role": role, "type": type_, "jti": str(claims.jti),
               "iat": int(now.timestamp()), "exp": int(claims.expires_at.timestamp())}
    if family is not None:
        payload["fam"] = str(family)
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode(secret: str, token: str, *, expected_type: str, now: dt.datetime) -> Claims:
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM],
            options={"require": ["sub", "role", "type", "jti", "iat", "exp"], "verify_exp": False},
        )
        expires_at = dt.datetime.fromtimestamp(int(payload["exp"]), dt.timezone.utc)
        if expires_at <= now:
            raise Unauthorized("Token expired", code="TOKEN_EXPIRED")
        if payload["type"] != expected_type or payload["role"] not in ROLES:
            raise Unauthorized("Invalid token", code="INVALID_TOKEN")
        return Claims(
            subject=uuid.UUID(payload["sub"]), role=payload["role"], type=payload["type"],
            jti=uuid.UUID(payload["jti"]),
            issued_at=dt.datetime.fromtimestamp(int(payload["iat"]), dt.timezone.utc),
            expires_at=expires_at,
            family=uuid.UUID(payload["fam"]) if payload.get("fam") else None,
        )
    except Unauthorized:
        raise
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise Unauthorized("Invalid token", code="INVALID_TOKEN") from None


def fingerprint(token: str) -> str:
    """What we store for refresh tokens: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


# --- the pair a login issues --------------------------------------------------------------

@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    refresh: Claims  # the refresh token's claims: its row is stored under refresh.jti


def new_pair(secret: str, *, role: str, subject: uuid.UUID, now: dt.datetime, access_ttl: int, refresh_ttl: int,
             family: uuid.UUID | None = None) -> TokenPair:
    """A new access + refresh token: a new family per login, the given family on rotation."""
    family = family or uuid.uuid4()
    access, _ = encode(secret, subject=subject, role=role, type_="access", ttl=access_ttl, now=now, family=family)
    refresh, claims = encode(secret, subject=subject, role=role, type_="refresh", ttl=refresh_ttl, now=now,
                             family=family)
    return TokenPair(access, refresh, claims)


def is_issued(stored_hash: str, stored_subject: uuid.UUID, stored_role: str, claims: Claims, token: str) -> bool:
    """Whether a presented refresh token is the one its row was stored for (same fingerprint, same
    account)."""
    return stored_hash == fingerprint(token) and stored_subject == claims.subject and stored_role == claims.role


# --- revocations --------------------------------------------------------------------------

TOKEN, FAMILY, SUBJECT = "token", "family", "subject"


@dataclass(frozen=True)
class Revocation:
    """One entry of the revocation log (gateway.auth follows it)."""
    kind: str                     # token (ref = jti), family (ref = family id), subject (ref = account id)
    ref: uuid.UUID
    expires_at: dt.datetime       # when it stops mattering: the last access token it refuses has expired
    role: str | None = None
    not_before: dt.datetime | None = None  # subject: tokens issued (iat) before this are refused


def token_revocation(claims: Claims) -> Revocation:
    """Logout: this one access token, until it would have expired."""
    return Revocation(TOKEN, claims.jti, claims.expires_at)


def family_revocation(family: uuid.UUID, now: dt.datetime, access_ttl: int) -> Revocation:
    """A login: its last access token was issued at the latest now, so it has expired by now + access_ttl."""
    return Revocation(FAMILY, family, now + dt.timedelta(seconds=access_ttl))


def subject_revocations(role: str, subject: uuid.UUID, families: Iterable[uuid.UUID], now: dt.datetime,
                        access_ttl: int) -> list[Revocation]:
    """Every token of an account (password change): its live families, and a mark refusing the
    tokens without a family issued before this second.

    `iat` has whole seconds: a token issued in this second, before or after now, is let through by
    the mark (a new login right after the change must work); the ones issued with a refresh token
    are caught by their family."""
    mark = Revocation(SUBJECT, subject, now + dt.timedelta(seconds=access_ttl), role=role,
                      not_before=now.replace(microsecond=0))
    return [family_revocation(f, now, access_ttl) for f in sorted(set(families))] + [mark]
