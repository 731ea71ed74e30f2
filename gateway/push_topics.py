"""FCM topic subscriptions for the push worker: every active patient token on the community topic
(domain.community), every other token off it, so a community push is one topic message.

The tokens to change are leased from the database (storage.push_topics), subscribed or unsubscribed
at FCM in batches (firebase-admin's subscribe_to_topic / unsubscribe_from_topic), and recorded. A
token FCM does not know is deactivated, as the push worker does for sends; a retryable failure is
tried again a minute later, any other an hour later. Without FCM credentials (local mode) the rows
are recorded as done and nothing is called.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

import asyncpg

from domain.community import COMMUNITY_TOPIC
from integrations import fcm
from storage import push_queue, push_topics

log = logging.getLogger(__name__)

RETRY_AFTER = dt.timedelta(seconds=60)
FAILED_RETRY_AFTER = dt.timedelta(hours=1)


async def sync_subscriptions(conn: asyncpg.Connection, sender: fcm.FcmClient | None, now: Callable[[], dt.datetime],
                             *, batch_size: int, lease_seconds: float) -> int:
    """One batch of tokens whose subscription must change; how many were leased."""
    started = now()
    rows = await push_topics.lease(conn, now=started, until=started + dt.timedelta(seconds=lease_seconds),
                                   limit=batch_size)
    if not rows:
        return 0
    if sender is None:
        log.info("topic subscriptions (local mode, not sent): %d", len(rows))
        await push_topics.record(conn, [(r["id"], r["wanted"], True, None) for r in rows])
        return len(rows)
    results: dict[str, fcm.TokenResult] = {}
    for wanted in (True, False):
        tokens = [r["token"] for r in rows if r["wanted"] is wanted]
        if tokens:
            for result in await sender.set_topic(tokens, COMMUNITY_TOPIC, subscribed=wanted):
                results[result.token] = result
    finished = now()
    outcomes = []
    for row in rows:
        outcome = results[row["token"]].outcome
        retry_at = (None if outcome in (fcm.SENT, fcm.UNREGISTERED)
                    else finished + (RETRY_AFTER if outcome == fcm.RETRY else FAILED_RETRY_AFTER))
        outcomes.append((row["id"], row["wanted"], outcome == fcm.SENT, retry_at))
    gone = sorted(token for token, result in results.items() if result.outcome == fcm.UNREGISTERED)
    async with conn.transaction():
        await push_queue.deactivate(conn, gone, reason="topic: unregistered", now=finished)
        await push_topics.record(conn, outcomes)
    return len(rows)
