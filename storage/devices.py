"""FCM registration tokens: one row per token, owned by whoever registered it last."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import device_tokens

T = device_tokens


async def register(conn: AsyncConnection, *, token: str, user_id: uuid.UUID, role: str, platform: str,
                   app_version: str | None, now: dt.datetime) -> dict[str, Any]:
    """Insert, or take over and reactivate the existing row (a phone that switched accounts)."""
    query = pg_insert(T).values(token=token, user_id=user_id, role=role, platform=platform,
                                app_version=app_version, is_active=True, created_at=now, updated_at=now)
    query = query.on_conflict_do_update(
        index_elements=[T.c.token],
        set_={"user_id": user_id, "role": role, "platform": platform, "app_version": app_version,
              "is_active": True, "deactivated_at": None, "deactivated_reason": None, "updated_at": now},
    )
    return dict((await conn.execute(query.returning(T))).mappings().one())


async def deactivate_own(conn: AsyncConnection, *, token: str, user_id: uuid.UUID, role: str,
                         now: dt.datetime) -> int:
    """Logout: deactivate the caller's token; someone else's token is left alone (and not revealed)."""
    result = await conn.execute(
        sa.update(T).where(T.c.token == token, T.c.user_id == user_id, T.c.role == role, T.c.is_active)
        .values(is_active=False, deactivated_at=now, deactivated_reason="logout", updated_at=now))
    return result.rowcount
