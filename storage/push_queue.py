"""The notifications outbox as the push worker sees it: lease due rows, find their devices, record
what happened. Rows are written by storage.events (in the transaction of the change they announce).

Every statement here runs on the worker's own connection (`driver.queue_connection`, lookup-only
planner settings) and is a key lookup in any plan: `id = ANY(ARRAY(...))` and `unnest` joins by
primary key. A batch is three statements whatever its size: lease, devices, outcomes.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import orjson

# Due: PENDING, and either fresh (attempts = 0: at once, whatever its clock) or its retry time has
# come. 'PENDING' is SQL text, not a parameter: only then can a generic plan use the partial index
# ix_notifications_due (`WHERE status = 'PENDING'`), which a bound `status = $1` does not prove.
# Leasing = attempts + 1 and due again when the lease ends: several workers never take one row, and
# a worker that dies mid-send only delays its rows until then.
LEASE = """
UPDATE notifications SET attempts = attempts + 1, next_attempt_at = $2
WHERE id = ANY(ARRAY(
        SELECT id FROM notifications
        WHERE status = 'PENDING' AND (next_attempt_at <= $1 OR attempts = 0)
        ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED))
  AND status = 'PENDING'
RETURNING id, recipient_role, recipient_id, topic, event_type, title, body, data::text AS data, attempts
"""

_DEVICES = """
SELECT t.role, t.user_id, t.token FROM device_tokens t
JOIN unnest($1::text[], $2::uuid[]) AS r(role, user_id) ON t.role = r.role AND t.user_id = r.user_id
WHERE t.is_active ORDER BY t.updated_at DESC
"""

# Only while the lease holds: a row leased again after its lease ran out belongs to that lease.
# `n.id = ANY($1)` besides the join: a key lookup in every plan (joined on `v.id` alone, the plan
# read the whole table by its primary key).
RECORD = """
UPDATE notifications n SET status = v.status, devices = v.devices, last_error = v.last_error,
    sent_at = v.sent_at, next_attempt_at = v.next_at
FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::timestamptz[])
    AS v(id, attempts, status, devices, last_error, sent_at, next_at)
WHERE n.id = ANY($1::uuid[]) AND n.id = v.id AND n.status = 'PENDING' AND n.attempts = v.attempts
"""

# FCM dropped the token, its topic subscriptions with it (nothing left to unsubscribe).
_DEACTIVATE = """
UPDATE device_tokens SET is_active = false, deactivated_at = $3, deactivated_reason = $2, updated_at = $3,
    community_subscribed = false, community_retry_at = NULL
WHERE token = ANY($1::text[]) AND is_active
"""


async def lease(conn: asyncpg.Connection, *, now: dt.datetime, until: dt.datetime, limit: int
                ) -> list[dict[str, Any]]:
    """Up to `limit` due rows, leased to the caller until `until`."""
    rows = await conn.fetch(LEASE, now, until, limit)
    return [{**row, "data": orjson.loads(row["data"])} for row in rows]


async def devices(conn: asyncpg.Connection, recipients: set[tuple[str, uuid.UUID]]
                  ) -> dict[tuple[str, uuid.UUID], list[str]]:
    """Active tokens of many recipients at once, newest first: {(role, user_id): [token, ...]}."""
    out: dict[tuple[str, uuid.UUID], list[str]] = {}
    if recipients:
        roles, user_ids = zip(*recipients)
        for role, user_id, token in await conn.fetch(_DEVICES, list(roles), list(user_ids)):
            out.setdefault((role, user_id), []).append(token)
    return out


async def deactivate(conn: asyncpg.Connection, tokens: list[str], *, reason: str, now: dt.datetime) -> None:
    """Tokens FCM no longer knows: inactive from now on."""
    if tokens:
        await conn.execute(_DEACTIVATE, tokens, reason[:200], now)


async def record(conn: asyncpg.Connection, outcomes: list[dict[str, Any]], *, rejected_tokens: list[str],
                 reason: str, now: dt.datetime) -> None:
    """The rows' outcomes, and the tokens FCM no longer knows, in one transaction."""
    columns = [list(column) for column in zip(*(
        (o["row_id"], o["row_attempts"], o["new_status"], o["new_devices"], o["new_error"], o["new_sent_at"],
         o["new_next_at"]) for o in outcomes))]
    if not rejected_tokens:
        if outcomes:
            await conn.execute(RECORD, *columns)
        return
    async with conn.transaction():
        await conn.execute(_DEACTIVATE, rejected_tokens, reason[:200], now)
        if outcomes:
            await conn.execute(RECORD, *columns)
