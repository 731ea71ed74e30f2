"""JWT access/refresh tokens: HS256 only, on both sides (the decoder accepts no other algorithm)."""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

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
