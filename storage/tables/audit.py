"""The admin audit log: one row per admin write or admin read of a patient's data (migration 0012).

Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE, whoever asks. It holds names of the
fields changed, never their values, so it carries no PHI.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, INET, UUID

from storage.tables.base import created_at, metadata

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("actor_id", UUID(as_uuid=True), nullable=False),
    sa.Column("actor_role", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target_type", sa.Text, nullable=False),
    sa.Column("target_id", sa.Text),
    sa.Column("request_id", sa.Text),
    sa.Column("ip", INET),
    sa.Column("changed_fields", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
    created_at(),
)
# The console's filters: newest first overall, by actor, by target.
sa.Index("ix_audit_log_created", audit_log.c.created_at.desc(), audit_log.c.id.desc())
sa.Index("ix_audit_log_actor", audit_log.c.actor_id, audit_log.c.created_at.desc())
sa.Index("ix_audit_log_target", audit_log.c.target_type, audit_log.c.target_id, audit_log.c.created_at.desc())
