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
)

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
)

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
)

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
