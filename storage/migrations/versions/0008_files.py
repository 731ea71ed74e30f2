"""Attachments, reports, recordings, prescriptions, lab-test recommendations.

Revision ID: 0008_files
Revises: 0007_messaging
"""
from alembic import op

revision = "0008_files"
down_revision = "0007_messaging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE attachments (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner_role text NOT NULL,
        owner_id uuid NOT NULL,
        scope_type text NOT NULL,
        scope_id uuid,
        session_id uuid REFERENCES connect_sessions(id) ON DELETE CASCADE,
        filename text NOT NULL,
        content_type text NOT NULL,
        size_bytes bigint NOT NULL,
        upload_mode text NOT NULL DEFAULT 'SAS',
        status text NOT NULL DEFAULT 'PENDING',
        container text NOT NULL,
        blob_name text NOT NULL,
        verified_size_bytes bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        uploaded_at timestamptz,
        deleted_at timestamptz,
        CONSTRAINT ck_attachments_owner_role CHECK (owner_role IN ('client','doctor')),
        CONSTRAINT ck_attachments_scope_type CHECK (scope_type IN ('PROFILE','SESSION','REPORT','RECORDING')),
        CONSTRAINT ck_attachments_scope_id CHECK (scope_type = 'PROFILE' OR scope_id IS NOT NULL),
        CONSTRAINT ck_attachments_size CHECK (size_bytes > 0),
        CONSTRAINT ck_attachments_mode CHECK (upload_mode IN ('SAS','DIRECT')),
        CONSTRAINT ck_attachments_status CHECK (status IN ('PENDING','UPLOADED','DELETED'))
    )""")
    op.execute("CREATE INDEX ix_attachments_scope ON attachments (scope_type, scope_id, created_at)")
    op.execute("CREATE INDEX ix_attachments_session_id ON attachments (session_id, created_at)")
    op.execute("CREATE INDEX ix_attachments_owner ON attachments (owner_id, created_at)")
    op.execute("""
    CREATE TABLE session_reports (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        session_id uuid NOT NULL REFERENCES connect_sessions(id) ON DELETE CASCADE,
        uploader_id uuid NOT NULL REFERENCES users(id),
        original_filename text NOT NULL,
        mime_type text NOT NULL,
        size_bytes bigint NOT NULL,
        container text NOT NULL,
        blob_name text NOT NULL,
        status text NOT NULL DEFAULT 'PENDING',
        verified_size_bytes bigint,
        verified_mime_type text,
        created_at timestamptz NOT NULL DEFAULT now(),
        uploaded_at timestamptz,
        deleted_at timestamptz,
        CONSTRAINT ck_session_reports_size CHECK (size_bytes > 0),
        CONSTRAINT ck_session_reports_status CHECK (status IN ('PENDING','UPLOADED','DELETED'))
    )""")
    op.execute("CREATE INDEX ix_session_reports_session_id ON session_reports (session_id, created_at)")
    op.execute("""
    CREATE TABLE recordings (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        session_id uuid NOT NULL REFERENCES connect_sessions(id) ON DELETE CASCADE,
        room_name text NOT NULL,
        egress_id text,
        status text NOT NULL DEFAULT 'STARTING',
        started_by_role text NOT NULL,
        started_by_id uuid NOT NULL,
        container text NOT NULL,
        blob_name text NOT NULL,
        file_location text,
        size_bytes bigint,
        duration_seconds double precision,
        error text,
        started_at timestamptz,
        stop_requested_at timestamptz,
        ended_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_recordings_egress_id UNIQUE (egress_id),
        CONSTRAINT ck_recordings_status CHECK (status IN ('STARTING','ACTIVE','STOPPING','COMPLETED','FAILED'))
    )""")
    op.execute("CREATE INDEX ix_recordings_session_id ON recordings (session_id, created_at)")
    # At most one recording being started or running per session: concurrent starts cannot both win.
    op.execute("CREATE UNIQUE INDEX uq_recordings_one_active ON recordings (session_id) "
               "WHERE status IN ('STARTING','ACTIVE')")
    op.execute("""
    CREATE TABLE prescriptions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        session_id uuid NOT NULL REFERENCES connect_sessions(id) ON DELETE CASCADE,
        doctor_id uuid NOT NULL REFERENCES doctors(id),
        patient_id uuid NOT NULL REFERENCES users(id),
        medications jsonb NOT NULL,
        notes text,
        version integer NOT NULL DEFAULT 1,
        pdf_blob text,
        pdf_version integer,
        pdf_generated_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_prescriptions_session_id UNIQUE (session_id)
    )""")
    op.execute("""
    CREATE TABLE lab_test_recommendations (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        session_id uuid NOT NULL REFERENCES connect_sessions(id) ON DELETE CASCADE,
        doctor_id uuid NOT NULL REFERENCES doctors(id),
        patient_id uuid NOT NULL REFERENCES users(id),
        recommendations jsonb NOT NULL,
        notes text,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_lab_test_recommendations_session_id UNIQUE (session_id)
    )""")


def downgrade() -> None:
    for table in ("lab_test_recommendations", "prescriptions", "recordings", "session_reports", "attachments"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
