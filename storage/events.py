"""Write realtime events and pushes into the outboxes, inside the caller's transaction.

Nothing is sent from here: the event relay (gateway.bus) and the push worker (integrations.push)
pick the rows up after commit, so a rolled-back change never produces an event or a push.
Use `gateway.tx.transaction(app)` so the relay and the worker are woken right after commit.
"""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import event_outbox, notifications

EVENTS_PENDING = "allign_events_pending"
PUSH_PENDING = "allign_push_pending"


def doctor_requests_channel(doctor_id: uuid.UUID | str) -> str:
    """The doctor console's request stream (SSE)."""
    return f"doctor:{doctor_id}:requests"


def session_channel(session_id: uuid.UUID | str) -> str:
    """Everything the two participants of one session see on its websocket."""
    return f"session:{session_id}"


async def publish_after_commit(conn: AsyncConnection, channel: str, event_type: str, data: dict[str, Any]) -> None:
    await conn.execute(sa.insert(event_outbox).values(channel=channel, event_type=event_type, data=data))
    conn.info[EVENTS_PENDING] = True


async def push_after_commit(conn: AsyncConnection, *, recipient_role: str, recipient_id: uuid.UUID,
                            event_type: str, title: str, body: str, data: dict[str, Any]) -> None:
    await conn.execute(sa.insert(notifications).values(
        recipient_role=recipient_role, recipient_id=recipient_id, event_type=event_type,
        title=title, body=body, data=data,
    ))
    conn.info[PUSH_PENDING] = True
