"""Session messages, call sessions, device tokens (schema: migration 0007)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from storage.tables.base import created_at, metadata, updated_at, uuid_pk

MESSAGE_CONTENT_TYPES = ("text", "image", "file", "audio")

messages = sa.Table(
    "messages", metadata,
    uuid_pk(),
    sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
    sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("connect_sessions.id"), nullable=False),
    sa.Column("sender_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sender_role", sa.Text, nullable=False),
    sa.Column("client_message_id", UUID(as_uuid=True), nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    created_at(),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    sa.Column("read_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("sender_role IN ('patient','doctor')", name="sender_role"),
    sa.CheckConstraint("content_type IN ('text','image','file','audio')", name="content_type"),
    sa.CheckConstraint("read_at IS NULL OR delivered_at IS NOT NULL", name="read_after_delivered"),
)
# Idempotent sends: one row per (session, sender, client_message_id); the ON CONFLICT arbiter of sends.
sa.Index("uq_messages_client_message", messages.c.session_id, messages.c.sender_id, messages.c.client_message_id,
         unique=True)
sa.Index("ix_messages_session_order", messages.c.session_id, messages.c.created_at, messages.c.seq)

call_sessions = sa.Table(
    "call_sessions", metadata,
    uuid_pk(),
    sa.Column("connect_session_id", UUID(as_uuid=True), sa.ForeignKey("connect_sessions.id"),
              nullable=False, unique=True),
    sa.Column("call_type", sa.Text, nullable=False, server_default="AUDIO"),
    sa.Column("status", sa.Text, nullable=False, server_default="CONNECTED"),
    sa.Column("livekit_room_name", sa.Text, nullable=False),
    sa.Column("created_by_role", sa.Text, nullable=False),
    sa.Column("created_by_id", UUID(as_uuid=True), nullable=False),
    created_at(),
    updated_at(),
    sa.CheckConstraint("call_type IN ('AUDIO','VIDEO')", name="call_type"),
    sa.CheckConstraint("status IN ('CONNECTED','ENDED')", name="status"),
)

device_tokens = sa.Table(
    "device_tokens", metadata,
    uuid_pk(),
    sa.Column("token", sa.Text, nullable=False, unique=True),
    sa.Column("user_id", UUID(as_uuid=True), nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("platform", sa.Text, nullable=False),
    sa.Column("app_version", sa.Text),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("deactivated_at", sa.DateTime(timezone=True)),
    sa.Column("deactivated_reason", sa.Text),
    created_at(),
    updated_at(),
    # Whether FCM has the token on the community topic; the push worker makes it match "active
    # patient token" (migration 0015), retrying a failed call after community_retry_at.
    sa.Column("community_subscribed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("community_retry_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("role IN ('client','doctor','admin')", name="role"),
    sa.CheckConstraint("platform IN ('android','ios')", name="platform"),
)
sa.Index("ix_device_tokens_recipient", device_tokens.c.role, device_tokens.c.user_id,
         postgresql_where=device_tokens.c.is_active)
sa.Index("ix_device_tokens_community_pending", device_tokens.c.id,
         postgresql_where=sa.text("community_subscribed <> (is_active AND role = 'client')"))
