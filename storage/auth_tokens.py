"""Token pairs: every login path issues through `issue_token_pair`; refresh tokens rotate in families.

A refresh token is stored only as its fingerprint, with the family it belongs to. Rotation revokes
the presented token with a conditional UPDATE (of two concurrent rotations, one wins); presenting an
already revoked token revokes its whole family (the token was stolen, or replayed by an attacker).
"""
from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from config import Settings
from gateway import tokens
from storage import accounts
from storage.tables import refresh_tokens


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    family_id: uuid.UUID
    refresh_jti: uuid.UUID

    def as_json(self) -> dict[str, str]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token, "token_type": "bearer"}


async def issue_token_pair(conn: AsyncConnection, settings: Settings, role: str, subject_id: uuid.UUID,
                           now: dt.datetime, family: uuid.UUID | None = None) -> TokenPair:
    """A new access + refresh token; a new family per login, the same family on rotation.

    The access token carries the family too, so logout (which sees only the access token) can
    revoke the refresh tokens of that one device.
    """
    family = family or uuid.uuid4()
    access, _ = tokens.encode(settings.jwt_secret, subject=subject_id, role=role, type_="access",
                              ttl=settings.access_token_ttl, now=now, family=family)
    refresh, claims = tokens.encode(settings.jwt_secret, subject=subject_id, role=role, type_="refresh",
                                    ttl=settings.refresh_token_ttl, now=now, family=family)
    await conn.execute(sa.insert(refresh_tokens).values(
        jti=claims.jti, family_id=family, subject_id=subject_id, role=role,
        token_hash=tokens.fingerprint(refresh), issued_at=now, expires_at=claims.expires_at))
    return TokenPair(access, refresh, family, claims.jti)


class RefreshFailure(enum.Enum):
    UNKNOWN = "Invalid refresh token"
    REUSED = "Refresh token already used; please log in again"
    INACTIVE = "Account inactive"


async def rotate_refresh_token(conn: AsyncConnection, settings: Settings, claims: tokens.Claims, token: str,
                               now: dt.datetime) -> TokenPair | RefreshFailure:
    """Exchange a decoded, unexpired refresh token for a new pair in the same family.

    Failures are returned, not raised, so the caller commits a family revocation before answering 401.
    """
    row = (await conn.execute(sa.select(refresh_tokens).where(refresh_tokens.c.jti == claims.jti))).mappings().first()
    if (row is None or row["token_hash"] != tokens.fingerprint(token) or row["subject_id"] != claims.subject
            or row["role"] != claims.role):
        return RefreshFailure.UNKNOWN
    if not await accounts.is_active(conn, row["role"], row["subject_id"]):
        return RefreshFailure.INACTIVE
    won = await conn.scalar(
        sa.update(refresh_tokens)
        .where(refresh_tokens.c.jti == claims.jti, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now).returning(refresh_tokens.c.jti))
    if won is None:
        await revoke_family(conn, row["family_id"], now)
        return RefreshFailure.REUSED
    pair = await issue_token_pair(conn, settings, row["role"], row["subject_id"], now, family=row["family_id"])
    await conn.execute(sa.update(refresh_tokens).where(refresh_tokens.c.jti == claims.jti)
                       .values(replaced_by=pair.refresh_jti))
    return pair


async def revoke_family(conn: AsyncConnection, family_id: uuid.UUID, now: dt.datetime) -> int:
    result = await conn.execute(
        sa.update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now))
    return result.rowcount


async def revoke_subject_tokens(conn: AsyncConnection, role: str, subject_id: uuid.UUID, now: dt.datetime) -> int:
    """Every refresh token of an account (deactivation, password change)."""
    result = await conn.execute(
        sa.update(refresh_tokens)
        .where(refresh_tokens.c.subject_id == subject_id, refresh_tokens.c.role == role,
               refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now))
    return result.rowcount
