"""Queries shared by every role's account: activity checks used by authentication."""
from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from storage import driver
from storage.tables import admins, doctors, users

ACCOUNT_TABLES = {"client": users, "doctor": doctors, "admin": admins}
# Runs on every authenticated request: SQL text on the driver (see storage.driver).
_IS_ACTIVE = {role: f"SELECT is_active FROM {table.name} WHERE id = $1" for role, table in ACCOUNT_TABLES.items()}


async def is_active(conn: AsyncConnection, role: str, subject_id: uuid.UUID) -> bool:
    return bool(await driver.fetchval(conn, _IS_ACTIVE[role], subject_id))
