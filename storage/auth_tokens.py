"""Refresh-token rows and the revocation log (SQL text on the driver); services.auth issues, rotates
and revokes with them, by the rules of domain.tokens.

A refresh token is stored only as its fingerprint, with the family it belongs to. Rotation revokes
the presented token with a conditional UPDATE (of two concurrent rotations, one wins).

A revocation of access tokens (a logged-out token, a revoked family, an account's "issued before"
mark) is a row of `auth_revocations` (migration 0011) written in the transaction that makes it,
which every process's in-memory view follows (gateway.auth). Write revocations last in a
transaction: the insert takes the log's ordering lock until commit.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from domain.tokens import Claims, Revocation
from storage import driver

_INSERT = """INSERT INTO refresh_tokens (jti, family_id, subject_id, role, token_hash, issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)"""
_GET = "SELECT jti, family_id, subject_id, role, token_hash FROM refresh_tokens WHERE jti = $1"
# Rotation: of concurrent rotations of one token, one finds it live.
_ROTATE = "UPDATE refresh_tokens SET revoked_at = $2, replaced_by = $3 WHERE jti = $1 AND revoked_at IS NULL RETURNING jti"
_REVOKE_FAMILY = "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL"
_REVOKE_SUBJECT = ("UPDATE refresh_tokens SET revoked_at = $3 WHERE subject_id = $1 AND role = $2 AND revoked_at IS NULL "
                   "RETURNING family_id")
# kind, ref, role, not_before, expires_at: one row per element (see migration 0011).
_RECORD = """
INSERT INTO auth_revocations (kind, ref, role, not_before, expires_at)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[])
"""


async def insert_refresh_token(conn: Connection, claims: Claims, token_hash: str) -> None:
    """The row of a newly issued refresh token (its claims; its fingerprint, never the token)."""
    await driver.execute(conn, _INSERT, claims.jti, claims.family, claims.subject, claims.role, token_hash,
                         claims.issued_at, claims.expires_at, begin=True)


async def refresh_token(conn: Connection, jti: uuid.UUID) -> dict[str, Any] | None:
    """jti, family_id, subject_id, role, token_hash of a stored refresh token."""
    row = await driver.fetchrow(conn, _GET, jti)
    return dict(row) if row else None


async def rotate(conn: Connection, jti: uuid.UUID, now: dt.datetime, *, replaced_by: uuid.UUID) -> bool:
    """Revoke this refresh token in favour of its successor if it is still live; whether it was."""
    return await driver.fetchval(conn, _ROTATE, jti, now, replaced_by, begin=True) is not None


async def revoke_family(conn: Connection, family_id: uuid.UUID, now: dt.datetime) -> int:
    """Revoke the live refresh tokens of a login; how many there were."""
    status = await driver.execute(conn, _REVOKE_FAMILY, family_id, now, begin=True)
    return int(status.split()[-1])


async def revoke_subject(conn: Connection, role: str, subject_id: uuid.UUID, now: dt.datetime) -> list[uuid.UUID]:
    """Revoke the live refresh tokens of an account; the family of each (one per token)."""
    rows = await driver.fetch(conn, _REVOKE_SUBJECT, subject_id, role, now, begin=True)
    return [r["family_id"] for r in rows]


async def record_revocations(conn: Connection, revocations: list[Revocation]) -> None:
    """Add to the revocation log (in conn's transaction; every process's view follows it)."""
    if revocations:
        await driver.execute(conn, _RECORD, [r.kind for r in revocations], [r.ref for r in revocations],
                             [r.role for r in revocations], [r.not_before for r in revocations],
                             [r.expires_at for r in revocations], begin=True)
