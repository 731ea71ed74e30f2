"""Audit log rows (table storage.tables.audit, append-only by trigger): insert one, read a page."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

from storage.pool import Connection

from storage import driver

Row = dict[str, Any]
FIELDS = ("id, actor_id, actor_role, action, target_type, target_id, request_id, host(ip) AS ip, "
          "changed_fields, created_at")

# The client IP is stored as inet when it parses as one (a unix-socket peer has none).
_INSERT = """INSERT INTO audit_log (actor_id, actor_role, action, target_type, target_id, request_id, ip,
                                    changed_fields, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::inet, $8, coalesce($9, now()))"""
# NULL filters match everything; newest first, id breaks ties so pages never overlap.
_WHERE = """($1::uuid IS NULL OR actor_id = $1) AND ($2::text IS NULL OR target_type = $2)
    AND ($3::text IS NULL OR target_id = $3) AND ($4::text IS NULL OR action = $4)
    AND ($5::timestamptz IS NULL OR created_at >= $5) AND ($6::timestamptz IS NULL OR created_at < $6)"""
_COUNT = f"SELECT count(*) FROM audit_log WHERE {_WHERE}"
_PAGE = f"SELECT {FIELDS} FROM audit_log WHERE {_WHERE} ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8"


async def append(conn: Connection, *, actor_id: uuid.UUID, actor_role: str, action: str, target_type: str,
                 target_id: str | None, request_id: str | None, ip: str | None, changed_fields: Sequence[str],
                 at: dt.datetime | None) -> None:
    await driver.execute(conn, _INSERT, actor_id, actor_role, action, target_type, target_id, request_id, ip,
                         sorted(changed_fields), at, begin=True)


async def page(conn: Connection, *, actor_id: uuid.UUID | None, target_type: str | None,
               target_id: str | None, action: str | None, date_from: dt.datetime | None,
               date_to: dt.datetime | None, limit: int, offset: int) -> tuple[list[Row], int]:
    args = (actor_id, target_type, target_id, action, date_from, date_to)
    total = await driver.fetchval(conn, _COUNT, *args)
    rows = await driver.fetch(conn, _PAGE, *args, limit, offset)
    return [dict(r) for r in rows], int(total or 0)
