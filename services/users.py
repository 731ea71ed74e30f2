"""Patient use cases: the profile's partial update."""
from __future__ import annotations

import uuid
from typing import Any

from domain.errors import NotFound
from services.context import Context, reading, statements
from storage import users as store

Row = dict[str, Any]


def not_found() -> NotFound:
    return NotFound("User not found")


async def update_profile(ctx: Context, user_id: uuid.UUID, changes: dict[str, Any]) -> Row:
    """Set the profile fields sent (null clears those the schema lets be cleared); one statement.
    Nothing to change reads the profile as it is."""
    known = {k: v for k, v in changes.items() if k in store.PROFILE_COLUMNS}
    if known:
        async with statements(ctx) as conn:
            user = await store.update_profile(conn, user_id, known, ctx.now())
    else:
        async with reading(ctx) as conn:
            user = await store.get_user(conn, user_id)
    if user is None:
        raise not_found()
    return user
