"""Health categories (admin-managed; patients see the active ones): rows in SQL text on the driver.

A name already taken (case-insensitively: unique index uq_health_categories_name) is `NameTaken`,
which the use case answers with 409.
"""
from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from storage.pool import Connection

from storage import driver
from storage.doctors import unique_violation

Row = dict[str, Any]
_FIELDS = "id, name, description, is_active, created_at, updated_at"


class NameTaken(Exception):
    """Another category has this name (in any letter case)."""


_INSERT = (f"INSERT INTO health_categories (name, description, is_active) VALUES ($1, $2, $3) "
           f"ON CONFLICT DO NOTHING RETURNING {_FIELDS}")
_INSERT_IF_ABSENT = "INSERT INTO health_categories (name, description) VALUES ($1, $2) ON CONFLICT DO NOTHING"
# $1: only active (true) / inactive (false) / both (NULL); $2: a LIKE pattern on the name (NULL: any).
_WHERE = "($1::boolean IS NULL OR is_active = $1) AND ($2::text IS NULL OR name ILIKE $2)"
_COUNT = f"SELECT count(*) FROM health_categories WHERE {_WHERE}"
_PAGE = f"SELECT {_FIELDS} FROM health_categories WHERE {_WHERE} ORDER BY lower(name), id LIMIT $3 OFFSET $4"
_GET = f"SELECT {_FIELDS} FROM health_categories WHERE id = $1"
# Partial update: name and is_active are never null; description is set (null included) when $3.
_UPDATE = f"""UPDATE health_categories SET name = coalesce($2, name),
    description = CASE WHEN $3 THEN $4 ELSE description END,
    is_active = coalesce($5, is_active), updated_at = now()
WHERE id = $1 RETURNING {_FIELDS}"""
_DELETE = "DELETE FROM health_categories WHERE id = $1 RETURNING id"


def _contains(q: str) -> str:
    """A LIKE pattern matching `q` anywhere, its wildcards taken literally (backslash escapes)."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def create_category(conn: Connection, values: dict[str, Any]) -> Row:
    """The new category; NameTaken if the name is taken."""
    row = await driver.fetchrow(conn, _INSERT, values["name"], values.get("description"),
                                values.get("is_active", True))
    if row is None:
        raise NameTaken()
    return dict(row)


async def insert_if_absent(conn: Connection, name: str, description: str | None) -> None:
    await driver.execute(conn, _INSERT_IF_ABSENT, name, description, begin=True)


async def categories_page(conn: Connection, *, limit: int, offset: int, is_active: bool | None = None,
                          q: str | None = None) -> tuple[list[Row], int]:
    """By name (case-insensitive), id breaking ties."""
    where = (is_active, _contains(q) if q else None)
    total = await driver.fetchval(conn, _COUNT, *where)
    rows = await driver.fetch(conn, _PAGE, *where, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


async def get_category(conn: Connection, category_id: uuid.UUID) -> Row | None:
    row = await driver.fetchrow(conn, _GET, category_id)
    return dict(row) if row else None


async def update_category(conn: Connection, category_id: uuid.UUID, changes: dict[str, Any]) -> Row | None:
    """Set what `changes` holds (name, description, is_active); None if no such category.
    NameTaken if the new name is taken."""
    try:
        row = await driver.fetchrow(conn, _UPDATE, category_id, changes.get("name"), "description" in changes,
                                    changes.get("description"), changes.get("is_active"))
    except asyncpg.UniqueViolationError as exc:
        if unique_violation(exc) == "uq_health_categories_name":
            raise NameTaken() from None
        raise
    return dict(row) if row else None


async def delete_category(conn: Connection, category_id: uuid.UUID) -> bool:
    return await driver.fetchval(conn, _DELETE, category_id) is not None
