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


async def active_tokens_for(conn: AsyncConnection, recipients: set[tuple[str, uuid.UUID]]
                            ) -> dict[tuple[str, uuid.UUID], list[str]]:
    """Active tokens of many recipients at once: {(role, user_id): [token, ...]}."""
    out: dict[tuple[str, uuid.UUID], list[str]] = {}
    if not recipients:
        return out
    rows = await conn.execute(sa.select(T.c.role, T.c.user_id, T.c.token)
                              .where(T.c.user_id.in_({user_id for _, user_id in recipients}), T.c.is_active)
                              .order_by(T.c.updated_at.desc()))
    for role, user_id, token in rows:
        if (role, user_id) in recipients:
            out.setdefault((role, user_id), []).append(token)
    return out


async def count_active(conn: AsyncConnection, role: str, user_id: uuid.UUID) -> int:
    """How many devices a push to this recipient would reach now (for NotificationResult.devices)."""
    return await conn.scalar(sa.select(sa.func.count()).select_from(T).where(
        T.c.role == role, T.c.user_id == user_id, T.c.is_active)) or 0


async def deactivate_rejected(conn: AsyncConnection, tokens: list[str], reason: str, now: dt.datetime) -> int:
    """Tokens FCM reported as no longer valid."""
    if not tokens:
        return 0
    result = await conn.execute(
        sa.update(T).where(T.c.token.in_(tokens), T.c.is_active)
        .values(is_active=False, deactivated_at=now, deactivated_reason=reason[:200], updated_at=now))
    return result.rowcount
