"""Password logins: looking up doctors and admins by what they type, and the admin's own profile."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import admins, doctors

ADMIN_PROFILE_COLUMNS = (admins.c.id, admins.c.username, admins.c.email, admins.c.full_name,
                         admins.c.is_active, admins.c.created_at)


async def doctor_by_email(conn: AsyncConnection, email: str) -> RowMapping | None:
    query = sa.select(doctors.c.id, doctors.c.password_hash, doctors.c.is_active).where(
        sa.func.lower(doctors.c.email) == email.lower())
    return (await conn.execute(query)).mappings().first()


async def admin_by_login(conn: AsyncConnection, login: str) -> RowMapping | None:
    """An admin signs in with the username or the email."""
    query = sa.select(admins.c.id, admins.c.password_hash, admins.c.is_active).where(
        sa.or_(admins.c.username == login, sa.func.lower(admins.c.email) == login.lower())
    ).order_by(sa.case((admins.c.username == login, 0), else_=1)).limit(1)
    return (await conn.execute(query)).mappings().first()


async def admin_profile(conn: AsyncConnection, admin_id: uuid.UUID) -> RowMapping | None:
    return (await conn.execute(sa.select(*ADMIN_PROFILE_COLUMNS).where(admins.c.id == admin_id))).mappings().first()
