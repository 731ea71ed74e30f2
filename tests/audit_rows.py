"""Reading the admin audit log in tests (the table itself: storage.tables.audit_log)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from storage.tables import audit_log


async def audit_rows(db, **where: Any) -> list[dict[str, Any]]:
    """Audit rows matching every column=value given, oldest first."""
    query = sa.select(audit_log).order_by(audit_log.c.id)
    for column, value in where.items():
        query = query.where(audit_log.c[column] == (str(value) if column == "target_id" else value))
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def audit_count(db) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(audit_log)))
