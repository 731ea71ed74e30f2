"""FCM registration tokens: one row per token, owned by whoever registered it last (SQL text on the
driver; each write is one statement)."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from storage import driver
from storage.tables import device_tokens

_FIELDS = ", ".join(c.name for c in device_tokens.c)

# Insert, or take over and reactivate the existing row (a phone that switched accounts). A
# registration makes a pending community topic change due at once (gateway.push_topics).
_REGISTER = f"""
INSERT INTO device_tokens (token, user_id, role, platform, app_version, is_active, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, true, $6, $6)
ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id, role = EXCLUDED.role,
    platform = EXCLUDED.platform, app_version = EXCLUDED.app_version, is_active = true,
    deactivated_at = NULL, deactivated_reason = NULL, updated_at = EXCLUDED.updated_at,
    community_retry_at = NULL
RETURNING {_FIELDS}"""
_DEACTIVATE_OWN = """
WITH done AS (
    UPDATE device_tokens SET is_active = false, deactivated_at = $4, deactivated_reason = 'logout', updated_at = $4
    WHERE token = $1 AND user_id = $2 AND role = $3 AND is_active
    RETURNING 1)
SELECT count(*) FROM done"""


async def register(conn: Connection, *, token: str, user_id: uuid.UUID, role: str, platform: str,
                   app_version: str | None, now: dt.datetime) -> dict[str, Any]:
    """Insert, or take over and reactivate the existing row (a phone that switched accounts)."""
    row = await driver.fetchrow(conn, _REGISTER, token, user_id, str(role), platform, app_version, now)
    assert row is not None
    return dict(row)


async def deactivate_own(conn: Connection, *, token: str, user_id: uuid.UUID, role: str,
                         now: dt.datetime) -> int:
    """Logout: deactivate the caller's token; someone else's token is left alone (and not revealed)."""
    return int(await driver.fetchval(conn, _DEACTIVATE_OWN, token, user_id, str(role), now))
