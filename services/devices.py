"""Device token use cases (push registration): register on app launch or token refresh,
deactivate on logout. One statement each.

A patient's token goes onto the community topic, and a deactivated one off it, through the push
worker's next pass (gateway.push_topics: at most its poll interval later)."""
from __future__ import annotations

import uuid
from typing import Any

from services.context import Context, statements
from storage import devices as store


async def register(ctx: Context, *, role: str, user_id: uuid.UUID, token: str, platform: str,
                   app_version: str | None) -> dict[str, Any]:
    """The token's row, now the caller's and active (a phone that switched accounts moves over)."""
    async with statements(ctx) as conn:
        return await store.register(conn, token=token, user_id=user_id, role=role, platform=platform,
                                    app_version=app_version, now=ctx.now())


async def deactivate(ctx: Context, *, role: str, user_id: uuid.UUID, token: str) -> int:
    """1 if the caller's active token was deactivated, else 0 (someone else's is left alone)."""
    async with statements(ctx) as conn:
        return await store.deactivate_own(conn, token=token, user_id=user_id, role=role, now=ctx.now())
