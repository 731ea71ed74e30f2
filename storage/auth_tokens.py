"""Token pairs: every login path issues through `issue_token_pair`; refresh tokens rotate in families.

A refresh token is stored only as its fingerprint, with the family it belongs to. Rotation revokes
the presented token with a conditional UPDATE (of two concurrent rotations, one wins); presenting an
already revoked token revokes its whole family (the token was stolen, or replayed by an attacker).

Revoking refresh tokens also revokes the access tokens issued with them: every access token carries
its family (`fam` claim), and a revoked family, a logged-out token or an account's "issued before"
mark is written to `auth_revocations` (migration 0011) in the same transaction, which every
process's in-memory view follows (gateway.auth). Write revocations last in a transaction: the
insert takes the log's ordering lock until commit. After the commit, `gateway.auth.sync(app)` makes
the revocation effective in this process before the response.
"""
from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from config import Settings
from domain import tokens
from storage import accounts, driver
from storage.tables import refresh_tokens

# kind, ref, role, not_before, expires_at: one row per element (see migration 0011).
_RECORD = """
INSERT INTO auth_revocations (kind, ref, role, not_before, expires_at)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[])
"""


@dataclass(frozen=True)
class Revocation:
    kind: str                     # token (ref = jti), family (ref = family id), subject (ref = account id)
    ref: uuid.UUID
    expires_at: dt.datetime       # when it stops mattering: the last access token it refuses has expired
    role: str | None = None
    not_before: dt.datetime | None = None  # subject: tokens issued (iat) before this are refused


async def record_revocations(conn: AsyncConnection, revocations: list[Revocation]) -> None:
    """Add to the revocation log (in conn's transaction; every process's view follows it)."""
    if revocations:
        await driver.execute(conn, _RECORD, [r.kind for r in revocations], [r.ref for r in revocations],
                             [r.role for r in revocations], [r.not_before for r in revocations],
                             [r.expires_at for r in revocations], begin=True)


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
        await revoke_family(conn, row["family_id"], now, access_ttl=settings.access_token_ttl)
        return RefreshFailure.REUSED
    pair = await issue_token_pair(conn, settings, row["role"], row["subject_id"], now, family=row["family_id"])
    await conn.execute(sa.update(refresh_tokens).where(refresh_tokens.c.jti == claims.jti)
                       .values(replaced_by=pair.refresh_jti))
    return pair


async def revoke_family(conn: AsyncConnection, family_id: uuid.UUID, now: dt.datetime, *, access_ttl: int) -> int:
    """Revoke a login: its refresh tokens and every access token issued in it. Returns how many
    refresh tokens were still live (none: the family was revoked before, and is in the log already)."""
    result = await conn.execute(
        sa.update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now))
    if result.rowcount:
        await record_revocations(conn, [_family(family_id, now, access_ttl)])
    return result.rowcount


async def revoke_access_token(conn: AsyncConnection, claims: tokens.Claims, now: dt.datetime, *,
                              access_ttl: int) -> None:
    """Logout: this access token and, when it has one, its whole family (the other access tokens of
    the same login, issued before or after a refresh, and its refresh tokens)."""
    if claims.family is not None:
        await revoke_family(conn, claims.family, now, access_ttl=access_ttl)
    await record_revocations(conn, [Revocation("token", claims.jti, claims.expires_at)])


async def revoke_subject_tokens(conn: AsyncConnection, role: str, subject_id: uuid.UUID, now: dt.datetime, *,
                                access_ttl: int) -> int:
    """Every token of an account (password change): its refresh tokens, the access tokens of its
    live families, and, for tokens without a family, a mark refusing those issued before this second.
    Returns how many refresh tokens were revoked.

    Locks, in the order every transaction takes them (no deadlock with a concurrent logout, a
    deactivation or a presence change): the account's row, its refresh tokens, the revocation log."""
    account = accounts.ACCOUNT_TABLES[role]
    await conn.execute(sa.select(account.c.id).where(account.c.id == subject_id).with_for_update(key_share=True))
    families = (await conn.execute(
        sa.update(refresh_tokens)
        .where(refresh_tokens.c.subject_id == subject_id, refresh_tokens.c.role == role,
               refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now).returning(refresh_tokens.c.family_id))).scalars().all()
    # `iat` has whole seconds: a token issued in this second, before or after now, is let through by
    # the mark (a new login right after the change must work); the ones issued with a refresh token
    # are caught by their family.
    mark = Revocation("subject", subject_id, now + dt.timedelta(seconds=access_ttl), role=role,
                      not_before=now.replace(microsecond=0))
    await record_revocations(conn, [_family(f, now, access_ttl) for f in sorted(set(families))] + [mark])
    return len(families)


def _family(family_id: uuid.UUID, now: dt.datetime, access_ttl: int) -> Revocation:
    # Its last access token was issued at the latest now: it has expired by now + access_ttl.
    return Revocation("family", family_id, now + dt.timedelta(seconds=access_ttl))
