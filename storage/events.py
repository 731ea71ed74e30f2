"""Write realtime events and pushes into the outboxes, inside the caller's transaction.

Nothing is sent from here: the event relay (gateway.bus) and the push worker (gateway.push_worker)
pick the rows up after commit, so a rolled-back change never produces an event or a push.
Use `gateway.tx.transaction(app)` so the relay and the worker are woken right after commit.

Hot writes that are one statement (a CTE changing state and writing its outbox rows, so the rows
exist exactly when the change happened) put `event_insert_from` / `push_insert_from` in that
statement, pass `event_args` / `push_args`, and call `mark_pending`.
"""
from __future__ import annotations

import uuid
from typing import Any

from storage.pool import Connection

from common.jsonutil import dumps_str
from storage import driver

EVENTS_PENDING = "allign_events_pending"
PUSH_PENDING = "allign_push_pending"

_EVENT_COLUMNS = "INSERT INTO event_outbox (channel, event_type, data)"
_PUSH_COLUMNS = "INSERT INTO notifications (recipient_role, recipient_id, event_type, title, body, data)"
_INSERT_EVENT = _EVENT_COLUMNS + " VALUES ($1, $2, $3::jsonb)"
_INSERT_PUSH = _PUSH_COLUMNS + " VALUES ($1, $2, $3, $4, $5, $6::jsonb)"
# A push to an FCM topic (every device subscribed to it): one row, no recipient (migration 0015).
_INSERT_TOPIC_PUSH = ("INSERT INTO notifications (topic, event_type, title, body, data) "
                      "VALUES ($1, $2, $3, $4, $5::jsonb)")


def doctor_requests_channel(doctor_id: uuid.UUID | str) -> str:
    """The doctor console's request stream (SSE)."""
    return f"doctor:{doctor_id}:requests"


def session_channel(session_id: uuid.UUID | str) -> str:
    """Everything the two participants of one session see on its websocket."""
    return f"session:{session_id}"


def event_args(channel: str, event_type: str, data: dict[str, Any]) -> tuple[str, str, str]:
    return channel, event_type, dumps_str(data)


def push_args(recipient_role: str, recipient_id: uuid.UUID, *, event_type: str, title: str, body: str,
              data: dict[str, Any]) -> tuple[Any, ...]:
    return recipient_role, recipient_id, event_type, title, body, dumps_str(data)


def event_insert_from(source: str, first: int) -> str:
    """SQL: one outbox event per row of `source` (a CTE name), from parameters $first..$first+2 (event_args)."""
    return f"{_EVENT_COLUMNS} SELECT ${first}::text, ${first + 1}::text, ${first + 2}::jsonb FROM {source}"


def push_insert_from(source: str, first: int) -> str:
    """SQL: one push per row of `source`, from parameters $first..$first+5 (push_args)."""
    return (f"{_PUSH_COLUMNS} SELECT ${first}::text, ${first + 1}::uuid, ${first + 2}::text, ${first + 3}::text, "
            f"${first + 4}::text, ${first + 5}::jsonb FROM {source}")


def mark_pending(conn: Connection, *, events: bool = False, pushes: bool = False) -> None:
    """Tell gateway.tx to wake the relay / the push worker once this connection's work is committed."""
    if events:
        conn.info[EVENTS_PENDING] = True
    if pushes:
        conn.info[PUSH_PENDING] = True


async def publish_after_commit(conn: Connection, channel: str, event_type: str, data: dict[str, Any]) -> None:
    await driver.execute(conn, _INSERT_EVENT, *event_args(channel, event_type, data), begin=True)
    conn.info[EVENTS_PENDING] = True


async def push_after_commit(conn: Connection, *, recipient_role: str, recipient_id: uuid.UUID,
                            event_type: str, title: str, body: str, data: dict[str, Any]) -> None:
    await driver.execute(conn, _INSERT_PUSH, *push_args(recipient_role, recipient_id, event_type=event_type,
                                                         title=title, body=body, data=data), begin=True)
    conn.info[PUSH_PENDING] = True


async def push_topic_after_commit(conn: Connection, *, topic: str, event_type: str, title: str, body: str,
                                  data: dict[str, Any]) -> None:
    """One push to every device on `topic`, sent by the push worker as one FCM topic message."""
    await driver.execute(conn, _INSERT_TOPIC_PUSH, topic, event_type, title, body, dumps_str(data), begin=True)
    conn.info[PUSH_PENDING] = True
