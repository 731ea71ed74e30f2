"""Patients (users), doctors' login identity lives in doctors; admins; tokens; revocations; OTP codes."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from storage.tables.base import created_at, metadata, updated_at, uuid_pk

users = sa.Table(
    "users", metadata,
    uuid_pk(),
    sa.Column("phone", sa.Text, nullable=False, unique=True),
    sa.Column("full_name", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("age", sa.Integer),
    sa.Column("sex", sa.Text),
    sa.Column("height_cm", sa.Float),
    sa.Column("weight_kg", sa.Float),
    sa.Column("avatar_source", sa.Text, nullable=False, server_default="system"),
    sa.Column("avatar_url", sa.Text),
    sa.Column("is_phone_verified", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    created_at(),
    updated_at(),
    sa.CheckConstraint("sex IS NULL OR sex IN ('male','female','other','prefer_not_to_say')", name="sex"),
)
# The revocation view's full load lists inactive accounts without reading all users (migration 0011).
sa.Index("ix_users_inactive", users.c.id, postgresql_where=sa.not_(users.c.is_active))
# The admin console's account search (migration 0015): name, email and phone anywhere, newest first.
for _column in ("full_name", "email", "phone"):
    sa.Index(f"ix_users_{_column}_trgm", users.c[_column], postgresql_using="gin",
             postgresql_ops={_column: "gin_trgm_ops"})
sa.Index("ix_users_created_at", users.c.created_at.desc(), users.c.id.desc())

admins = sa.Table(
    "admins", metadata,
    uuid_pk(),
    sa.Column("username", sa.Text, nullable=False, unique=True),
    sa.Column("email", sa.Text, unique=True),
    sa.Column("full_name", sa.Text),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    created_at(),
)

refresh_tokens = sa.Table(
    "refresh_tokens", metadata,
    sa.Column("jti", UUID(as_uuid=True), primary_key=True),
    sa.Column("family_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("subject_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("replaced_by", UUID(as_uuid=True)),
)

otp_codes = sa.Table(
    "otp_codes", metadata,
    sa.Column("phone", sa.Text, primary_key=True),
    sa.Column("code_hash", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    created_at(),
)

# Revocations as an ordered log (migration 0011, which also adds the triggers that write it): ids are
# drawn from the sequence by a BEFORE INSERT trigger under an advisory lock, so they commit in order.
auth_revocations_id_seq = sa.Sequence("auth_revocations_id_seq", metadata=metadata, data_type=sa.BigInteger)

auth_revocations = sa.Table(
    "auth_revocations", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("ref", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("role", sa.Text),
    sa.Column("not_before", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    created_at(),
    sa.CheckConstraint("kind IN ('token', 'family', 'subject', 'inactive', 'active')", name="kind"),
)
