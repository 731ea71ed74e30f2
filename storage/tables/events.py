"""Transactional outboxes (schema: migrations 0002, 0005, 0009).

`event_outbox`: realtime events written in the same transaction as the state change, relayed to
the Redis event bus after commit. `notifications`: pushes, sent by the push worker.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from storage.tables.base import created_at, metadata, uuid_pk

# Queue tables churn: autovacuum by row count rather than by a fifth of the table (migration 0009).
QUEUE_VACUUM = {
    "autovacuum_vacuum_scale_factor": 0, "autovacuum_vacuum_threshold": 10000,
    "autovacuum_vacuum_insert_scale_factor": 0, "autovacuum_vacuum_insert_threshold": 10000,
    "autovacuum_analyze_scale_factor": 0, "autovacuum_analyze_threshold": 10000,
}

# Bus event ids, assigned by the relay in publish order (gateway.bus_relay, migration 0005).
event_bus_seq = sa.Sequence("event_bus_seq", metadata=metadata, data_type=sa.BigInteger)

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
    postgresql_with=QUEUE_VACUUM,
)
sa.Index("uq_event_outbox_event_id", event_outbox.c.event_id, unique=True)
# Replay of one channel after an id (Redis lost or trimmed its history).
sa.Index("ix_event_outbox_channel_event", event_outbox.c.channel, event_outbox.c.event_id,
         postgresql_where=event_outbox.c.event_id.is_not(None))
# Pruning of old published rows.
sa.Index("ix_event_outbox_published", event_outbox.c.published_at,
         postgresql_where=event_outbox.c.published_at.is_not(None))
# What the relay numbers next, and what it numbered but has not confirmed published (0009).
sa.Index("ix_event_outbox_unassigned", event_outbox.c.id, postgresql_where=event_outbox.c.event_id.is_(None))
sa.Index("ix_event_outbox_unpublished", event_outbox.c.event_id,
         postgresql_where=sa.and_(event_outbox.c.published_at.is_(None), event_outbox.c.event_id.is_not(None)))

notifications = sa.Table(
    "notifications", metadata,
    uuid_pk(),
    # A push to one account (role and id), or to an FCM topic (migration 0015): exactly one of the two.
    sa.Column("recipient_role", sa.Text),
    sa.Column("recipient_id", UUID(as_uuid=True)),
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
    sa.Column("topic", sa.Text),
    sa.CheckConstraint("status IN ('PENDING','SENT','LOGGED','FAILED','NO_DEVICES')", name="status"),
    sa.CheckConstraint("(topic IS NULL AND recipient_role IS NOT NULL AND recipient_id IS NOT NULL) "
                       "OR (topic IS NOT NULL AND recipient_role IS NULL AND recipient_id IS NULL)", name="recipient"),
    postgresql_with=QUEUE_VACUUM,
)
sa.Index("ix_notifications_due", notifications.c.next_attempt_at,
         postgresql_where=notifications.c.status == "PENDING")
sa.Index("ix_notifications_recipient", notifications.c.recipient_id, notifications.c.created_at)
