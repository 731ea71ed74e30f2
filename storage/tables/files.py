"""Files and clinical records (schema: migration 0008): attachments, session reports, recordings,
prescriptions (with their cached PDF) and lab-test recommendations."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from storage.tables.base import created_at, metadata, updated_at, uuid_pk

attachments = sa.Table(
    "attachments", metadata,
    uuid_pk(),
    sa.Column("owner_role", sa.Text, nullable=False),
    sa.Column("owner_id", UUID(as_uuid=True), nullable=False),
    sa.Column("scope_type", sa.Text, nullable=False),
    sa.Column("scope_id", UUID(as_uuid=True)),
    # The session the scope belongs to (SESSION, REPORT, RECORDING): who may see the file.
    sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("connect_sessions.id", ondelete="CASCADE")),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("upload_mode", sa.Text, nullable=False, server_default="SAS"),
    sa.Column("status", sa.Text, nullable=False, server_default="PENDING"),
    sa.Column("container", sa.Text, nullable=False),
    sa.Column("blob_name", sa.Text, nullable=False),
    sa.Column("verified_size_bytes", sa.BigInteger),
    created_at(),
    sa.Column("uploaded_at", sa.DateTime(timezone=True)),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("owner_role IN ('client','doctor')", name="owner_role"),
    sa.CheckConstraint("scope_type IN ('PROFILE','SESSION','REPORT','RECORDING')", name="scope_type"),
    sa.CheckConstraint("scope_type = 'PROFILE' OR scope_id IS NOT NULL", name="scope_id"),
    sa.CheckConstraint("size_bytes > 0", name="size"),
    sa.CheckConstraint("upload_mode IN ('SAS','DIRECT')", name="mode"),
    sa.CheckConstraint("status IN ('PENDING','UPLOADED','DELETED')", name="status"),
)
sa.Index("ix_attachments_scope", attachments.c.scope_type, attachments.c.scope_id, attachments.c.created_at)
sa.Index("ix_attachments_session_id", attachments.c.session_id, attachments.c.created_at)
sa.Index("ix_attachments_owner", attachments.c.owner_id, attachments.c.created_at)

session_reports = sa.Table(
    "session_reports", metadata,
    uuid_pk(),
    sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("connect_sessions.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("uploader_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("original_filename", sa.Text, nullable=False),
    sa.Column("mime_type", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("container", sa.Text, nullable=False),
    sa.Column("blob_name", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="PENDING"),
    sa.Column("verified_size_bytes", sa.BigInteger),
    sa.Column("verified_mime_type", sa.Text),
    created_at(),
    sa.Column("uploaded_at", sa.DateTime(timezone=True)),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("size_bytes > 0", name="size"),
    sa.CheckConstraint("status IN ('PENDING','UPLOADED','DELETED')", name="status"),
)
sa.Index("ix_session_reports_session_id", session_reports.c.session_id, session_reports.c.created_at)

recordings = sa.Table(
    "recordings", metadata,
    uuid_pk(),
    sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("connect_sessions.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("room_name", sa.Text, nullable=False),
    sa.Column("egress_id", sa.Text, unique=True),
    sa.Column("status", sa.Text, nullable=False, server_default="STARTING"),
    sa.Column("started_by_role", sa.Text, nullable=False),
    sa.Column("started_by_id", UUID(as_uuid=True), nullable=False),
    sa.Column("container", sa.Text, nullable=False),
    sa.Column("blob_name", sa.Text, nullable=False),
    sa.Column("file_location", sa.Text),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("duration_seconds", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("stop_requested_at", sa.DateTime(timezone=True)),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    created_at(),
    updated_at(),
    sa.CheckConstraint("status IN ('STARTING','ACTIVE','STOPPING','COMPLETED','FAILED')", name="status"),
)
sa.Index("ix_recordings_session_id", recordings.c.session_id, recordings.c.created_at)
# At most one recording being started or running per session: concurrent starts cannot both win.
sa.Index("uq_recordings_one_active", recordings.c.session_id, unique=True,
         postgresql_where=recordings.c.status.in_(("STARTING", "ACTIVE")))

prescriptions = sa.Table(
    "prescriptions", metadata,
    uuid_pk(),
    sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("connect_sessions.id", ondelete="CASCADE"),
              nullable=False, unique=True),
    sa.Column("doctor_id", UUID(as_uuid=True), sa.ForeignKey("doctors.id"), nullable=False),
    sa.Column("patient_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("medications", JSONB, nullable=False),
    sa.Column("notes", sa.Text),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # The cached PDF is valid while pdf_version == version.
    sa.Column("pdf_blob", sa.Text),
    sa.Column("pdf_version", sa.Integer),
    sa.Column("pdf_generated_at", sa.DateTime(timezone=True)),
    created_at(),
    updated_at(),
    # Migration 0014: the provisional diagnosis and advice of the TPG prescription format.
    sa.Column("diagnosis", sa.Text),
    sa.Column("advice", sa.Text),
    sa.CheckConstraint("char_length(diagnosis) <= 500", name="diagnosis"),
    sa.CheckConstraint("char_length(advice) <= 2000", name="advice"),
)

lab_test_recommendations = sa.Table(
    "lab_test_recommendations", metadata,
    uuid_pk(),
    sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("connect_sessions.id", ondelete="CASCADE"),
              nullable=False, unique=True),
    sa.Column("doctor_id", UUID(as_uuid=True), sa.ForeignKey("doctors.id"), nullable=False),
    sa.Column("patient_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("recommendations", JSONB, nullable=False),
    sa.Column("notes", sa.Text),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    created_at(),
    updated_at(),
)
