"""Transactional outboxes (schema: migration 0002).

`event_outbox`: realtime events written in the same transaction as the state change, relayed to
the Redis event bus after commit. `notifications`: pushes, sent by the push worker.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from storage.tables.base import created_at, metadata, uuid_pk

event_outbox = sa.Table(
    "event_outbox", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("data", JSONB, nullable=False),
    created_at(),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    # Assigned by the relay at publish time (migration 0005), so ids follow commit order per channel.
    sa.Column("event_id", sa.BigInteger),
)

notifications = sa.Table(
    "notifications", metadata,
    uuid_pk(),
    sa.Column("recipient_role", sa.Text, nullable=False),
    sa.Column("recipient_id", UUID(as_uuid=True), nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("data", JSONB, nullable=False, server_default="{}"),
    sa.Column("status", sa.Text, nullable=False, server_default="PENDING"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("last_error", sa.Text),
    sa.Column("devices", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    created_at(),
)
