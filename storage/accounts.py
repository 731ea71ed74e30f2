"""Queries shared by every role's account: activity checks used by authentication."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import admins, doctors, users

ACCOUNT_TABLES = {"client": users, "doctor": doctors, "admin": admins}


async def is_active(conn: AsyncConnection, role: str, subject_id: uuid.UUID) -> bool:
    table = ACCOUNT_TABLES[role]
    value = await conn.scalar(sa.select(table.c.is_active).where(table.c.id == subject_id))
    return bool(value)
