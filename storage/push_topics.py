"""The community topic's subscriptions as the push worker sees them (migration 0015): device tokens
whose `community_subscribed` differs from "active patient token" are leased, subscribed or
unsubscribed at FCM, and recorded. Runs on the worker's own connection, like storage.push_queue.

Leasing sets `community_retry_at` to the end of the lease, so several workers never take one token
and a worker that dies mid-call only delays its tokens until then; a failed call sets it to the
time of the next try. The partial index ix_device_tokens_community_pending holds exactly the tokens
with work to do, so a pass with nothing to do reads nothing.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from domain.community import TOPIC_ROLE

# Who is on the topic: active tokens of patients. Written into the text, not a parameter, so the
# statement's predicate is the partial index's (migration 0015 writes the same expression).
_WANTED = f"(is_active AND role = '{TOPIC_ROLE}')"
LEASE = f"""
UPDATE device_tokens SET community_retry_at = $2
WHERE id = ANY(ARRAY(
        SELECT id FROM device_tokens
        WHERE community_subscribed <> {_WANTED} AND (community_retry_at IS NULL OR community_retry_at <= $1)
        LIMIT $3 FOR UPDATE SKIP LOCKED))
  AND community_subscribed <> {_WANTED}
RETURNING id, token, {_WANTED} AS wanted
"""
# What FCM now has for each token (done), or when to try again (not done).
RECORD = """
UPDATE device_tokens d SET
    community_subscribed = CASE WHEN v.done THEN v.wanted ELSE d.community_subscribed END,
    community_retry_at = v.retry_at
FROM unnest($1::uuid[], $2::boolean[], $3::boolean[], $4::timestamptz[]) AS v(id, wanted, done, retry_at)
WHERE d.id = ANY($1::uuid[]) AND d.id = v.id
"""


async def lease(conn: asyncpg.Connection, *, now: dt.datetime, until: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` tokens whose subscription must change: {id, token, wanted}."""
    return [dict(r) for r in await conn.fetch(LEASE, now, until, limit)]


async def record(conn: asyncpg.Connection, outcomes: list[tuple[uuid.UUID, bool, bool, dt.datetime | None]]) -> None:
    """(id, wanted, done, retry_at) per token leased."""
    if outcomes:
        ids, wanted, done, retry_at = (list(column) for column in zip(*outcomes))
        await conn.execute(RECORD, ids, wanted, done, retry_at)
