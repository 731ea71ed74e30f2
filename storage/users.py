"""Patients (users): found or created at OTP login, profile reads and partial updates."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import users

PROFILE_COLUMNS = ("full_name", "email", "age", "sex", "height_cm", "weight_kg")


async def get_user(conn: AsyncConnection, user_id: uuid.UUID) -> RowMapping | None:
    return (await conn.execute(sa.select(users).where(users.c.id == user_id))).mappings().first()


async def login_user(conn: AsyncConnection, phone: str, full_name: str | None,
                     now: dt.datetime) -> tuple[RowMapping, bool]:
    """The user with this phone, created on first login; returns (user, created).

    ON CONFLICT makes two concurrent first logins of one phone end with one user.
    """
    created = (await conn.execute(
        insert(users).values(phone=phone, full_name=full_name, is_phone_verified=True,
                             created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=[users.c.phone]).returning(users))).mappings().first()
    if created is not None:
        return created, True
    if full_name:
        # A user who exists without a name (seeded, or created before naming) takes the first one given.
        named = (await conn.execute(
            sa.update(users).where(users.c.phone == phone, users.c.full_name.is_(None))
            .values(full_name=full_name, updated_at=now).returning(users))).mappings().first()
        if named is not None:
            return named, False
    existing = (await conn.execute(sa.select(users).where(users.c.phone == phone))).mappings().one()
    return existing, False


async def update_profile(conn: AsyncConnection, user_id: uuid.UUID, changes: dict[str, Any],
                         now: dt.datetime) -> RowMapping | None:
    values = {k: v for k, v in changes.items() if k in PROFILE_COLUMNS}
    if not values:
        return await get_user(conn, user_id)
    return (await conn.execute(
        sa.update(users).where(users.c.id == user_id).values(**values, updated_at=now).returning(users)
    )).mappings().first()
