"""Health categories (admin-managed; patients see the active ones)."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import Conflict
from storage.doctors import unique_violation
from storage.tables import health_categories

c = health_categories


def _duplicate(name: str) -> Conflict:
    return Conflict(f"A category named {name!r} already exists", code="CATEGORY_EXISTS")


async def create_category(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
    """Insert; a name already taken (case-insensitively) is 409."""
    row = (await conn.execute(
        pg_insert(c).values(**values).on_conflict_do_nothing().returning(c))).mappings().first()
    if row is None:
        raise _duplicate(values["name"])
    return dict(row)


async def categories_page(conn: AsyncConnection, *, limit: int, offset: int, is_active: bool | None = None,
                          q: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """By name (case-insensitive), id breaking ties."""
    where: list[Any] = []
    if is_active is not None:
        where.append(c.c.is_active.is_(is_active))
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(c.c.name.ilike(f"%{escaped}%", escape="\\"))
    total = await conn.scalar(sa.select(sa.func.count()).select_from(c).where(*where))
    rows = (await conn.execute(
        sa.select(c).where(*where).order_by(sa.func.lower(c.c.name), c.c.id).limit(limit).offset(offset)
    )).mappings().all()
    return [dict(r) for r in rows], int(total or 0)


async def get_category(conn: AsyncConnection, category_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(c).where(c.c.id == category_id))).mappings().first()
    return dict(row) if row else None


async def update_category(conn: AsyncConnection, category_id: uuid.UUID,
                          values: dict[str, Any]) -> dict[str, Any] | None:
    try:
        row = (await conn.execute(
            sa.update(c).where(c.c.id == category_id).values(**values, updated_at=sa.func.now()).returning(c)
        )).mappings().first()
    except IntegrityError as exc:
        if unique_violation(exc) == "uq_health_categories_name":
            raise _duplicate(values.get("name", "")) from None
        raise
    return dict(row) if row else None


async def delete_category(conn: AsyncConnection, category_id: uuid.UUID) -> bool:
    result = await conn.execute(sa.delete(c).where(c.c.id == category_id))
    return result.rowcount > 0
