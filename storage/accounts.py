"""Queries shared by every role's account: activity and revocation checks used by authentication.

Authentication reads these through its in-memory view (gateway.auth.RevocationView), which loads
them whole (`load_view`) and then follows the revocation log (`revocations_after`) on a connection
of its own; `access_state` is the direct check it falls back to while the view is not current.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg
from storage.pool import Connection

from storage import driver
from storage.tables import admins, doctors, users

ACCOUNT_TABLES = {"client": users, "doctor": doctors, "admin": admins}
# The account row first, in every transaction that revokes an account's tokens (see lock_account).
_LOCK = {role: f"SELECT id FROM {table.name} WHERE id = $1 FOR NO KEY UPDATE" for role, table in ACCOUNT_TABLES.items()}
# A token exchange holds the account row shared: it cannot interleave with a revocation of the
# account's tokens (which holds it exclusively, lock_account), so its new refresh token is either
# refused or seen, and revoked, by that revocation.
_ACTIVE_SHARED = {role: f"SELECT is_active FROM {table.name} WHERE id = $1 FOR SHARE"
                  for role, table in ACCOUNT_TABLES.items()}
# $1 account id, $2 the token's jti and family, $3 its iat. A missing account is inactive.
_ACCESS_STATE = {role: f"""
SELECT coalesce((SELECT is_active FROM {table.name} WHERE id = $1), false) AS active,
       EXISTS (SELECT 1 FROM auth_revocations
               WHERE ref = ANY($2::uuid[]) AND kind IN ('token', 'family')
                  OR ref = $1 AND kind = 'subject' AND role = '{role}' AND not_before > $3) AS revoked
""" for role, table in ACCOUNT_TABLES.items()}

# The revocation log (migration 0011): ids become visible in id order, so `id > cursor` misses nothing.
_LOG_COLUMNS = "id, kind, ref, role, not_before, expires_at"
_AFTER = f"SELECT {_LOG_COLUMNS} FROM auth_revocations WHERE id > $1 ORDER BY id LIMIT $2"
_TIP = "SELECT coalesce(max(id), 0) FROM auth_revocations"
_IN_FORCE = f"""SELECT {_LOG_COLUMNS} FROM auth_revocations
WHERE kind IN ('token', 'family', 'subject') AND expires_at > $1 ORDER BY id"""
# Rows stop mattering at expires_at; an hour later nobody can still be reading them (a reader that
# fell behind loads whole again).
_PRUNE = """DELETE FROM auth_revocations WHERE id = ANY(ARRAY(
    SELECT id FROM auth_revocations WHERE expires_at < now() - interval '1 hour' LIMIT 10000))"""
_INACTIVE = " UNION ALL ".join(f"SELECT '{role}' AS role, id FROM {table.name} WHERE NOT is_active"
                               for role, table in ACCOUNT_TABLES.items())


async def active_for_exchange(conn: Connection, role: str, subject_id: uuid.UUID) -> bool:
    """Whether the account is active, holding its row shared until the transaction ends (a refresh)."""
    return bool(await driver.fetchval(conn, _ACTIVE_SHARED[role], subject_id, begin=True))


async def lock_account(conn: Connection, role: str, subject_id: uuid.UUID) -> bool:
    """Lock the account's row for the transaction (FOR NO KEY UPDATE: a concurrent refresh waits, new
    sessions' foreign-key checks go on); whether it exists. A transaction revoking an account's tokens takes this first, then its
    refresh tokens, then (after any update of the row itself) writes the revocation log: the order
    that cannot deadlock with a concurrent logout, refresh, deactivation or presence change."""
    return await driver.fetchval(conn, _LOCK[role], subject_id, begin=True) is not None


async def access_state(conn: Connection, role: str, subject_id: uuid.UUID, refs: list[uuid.UUID],
                       issued_at: dt.datetime) -> tuple[bool, bool]:
    """(account active, token revoked) straight from the database: one statement."""
    row = await driver.fetchrow(conn, _ACCESS_STATE[role], subject_id, refs, issued_at)
    return row["active"], row["revoked"]


@dataclass(frozen=True)
class ViewSnapshot:
    cursor: int                        # the log's last id in this snapshot
    revocations: list[asyncpg.Record]  # rows of the log still in force (token, family, subject)
    inactive: list[tuple[str, uuid.UUID]]


async def load_view(conn: asyncpg.Connection, now: dt.datetime, timeout: float) -> ViewSnapshot:
    """Everything authentication needs, from one snapshot (so `cursor` matches the rest exactly)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        cursor = await conn.fetchval(_TIP, timeout=timeout)
        revocations = await conn.fetch(_IN_FORCE, now, timeout=timeout)
        inactive = [(r["role"], r["id"]) for r in await conn.fetch(_INACTIVE, timeout=timeout)]
    return ViewSnapshot(cursor, revocations, inactive)


async def revocations_after(conn: asyncpg.Connection, cursor: int, limit: int, timeout: float) -> list[asyncpg.Record]:
    return await conn.fetch(_AFTER, cursor, limit, timeout=timeout)


async def prune_revocations(conn: asyncpg.Connection, timeout: float) -> int:
    return int((await conn.execute(_PRUNE, timeout=timeout)).split()[-1])
