"""Shared core: connect sessions, follow-ups, wallet ledger, event outbox, notifications outbox.

Revision ID: 0002_sessions_wallet_outbox
Revises: 0001_foundation
"""
from alembic import op

revision = "0002_sessions_wallet_outbox"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE connect_sessions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        patient_id uuid NOT NULL REFERENCES users(id),
        doctor_id uuid NOT NULL REFERENCES doctors(id),
        status text NOT NULL DEFAULT 'REQUESTED',
        category text,
        symptoms text[] NOT NULL DEFAULT '{}',
        active_treatment text,
        medical_history text,
        rate_per_minute integer NOT NULL,
        room_name text NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        started_at timestamptz,
        ended_at timestamptz,
        ended_by text,
        end_reason text,
        end_note text,
        duration_seconds double precision,
        billed_minutes integer,
        billed_amount bigint,
        video_permission_state text NOT NULL DEFAULT 'NOT_ALLOWED',
        patient_video_enabled boolean NOT NULL DEFAULT false,
        consent_round integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_connect_sessions_status CHECK
            (status IN ('REQUESTED','ONGOING','ENDED','REJECTED','EXPIRED','CANCELLED')),
        CONSTRAINT ck_connect_sessions_video CHECK (video_permission_state IN
            ('NOT_ALLOWED','ALLOWED_BY_DOCTOR','VIDEO_ON','VIDEO_OFF','DECLINED_BY_PATIENT'))
    )""")
    # One active (REQUESTED/ONGOING) session per patient, enforced by the database.
    op.execute("""CREATE UNIQUE INDEX uq_connect_sessions_patient_active ON connect_sessions (patient_id)
                  WHERE status IN ('REQUESTED','ONGOING')""")
    op.execute("CREATE INDEX ix_connect_sessions_doctor ON connect_sessions (doctor_id, status, requested_at)")
    op.execute("CREATE INDEX ix_connect_sessions_patient ON connect_sessions (patient_id, requested_at)")
    op.execute("""CREATE INDEX ix_connect_sessions_expiry ON connect_sessions (expires_at)
                  WHERE status = 'REQUESTED'""")
    op.execute("""
    CREATE TABLE followups (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        parent_session_id uuid NOT NULL REFERENCES connect_sessions(id),
        doctor_id uuid NOT NULL REFERENCES doctors(id),
        patient_id uuid NOT NULL REFERENCES users(id),
        status text NOT NULL DEFAULT 'PENDING_PATIENT',
        scheduled_date date NOT NULL,
        scheduled_time time,
        scheduled_timezone text NOT NULL DEFAULT 'Asia/Kolkata',
        proposed_date date,
        proposed_time time,
        cancel_reason text,
        reminder_sent_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_followups_status CHECK (status IN
            ('PENDING_PATIENT','ACCEPTED','REJECTED','RESCHEDULE_REQUESTED','CANCELLED'))
    )""")
    op.execute("CREATE INDEX ix_followups_parent ON followups (parent_session_id)")
    op.execute("""
    CREATE TABLE wallets (
        user_id uuid PRIMARY KEY REFERENCES users(id),
        balance bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_wallets_non_negative CHECK (balance >= 0)
    )""")
    op.execute("""
    CREATE TABLE wallet_transactions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id),
        amount bigint NOT NULL,
        kind text NOT NULL,
        balance_after bigint NOT NULL,
        reference_type text,
        reference_id text,
        description text,
        created_by uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_wallet_transactions_amount CHECK (amount <> 0),
        CONSTRAINT ck_wallet_transactions_kind CHECK
            (kind IN ('recharge','bonus','session','adjustment','refund'))
    )""")
    op.execute("CREATE INDEX ix_wallet_transactions_user ON wallet_transactions (user_id, created_at DESC)")
    # A session is billed once, a payment credited once: one ledger row per (kind, reference).
    op.execute("""CREATE UNIQUE INDEX uq_wallet_transactions_reference
                  ON wallet_transactions (kind, reference_type, reference_id) WHERE reference_id IS NOT NULL""")
    op.execute("""
    CREATE TABLE event_outbox (
        id bigserial PRIMARY KEY,
        channel text NOT NULL,
        event_type text NOT NULL,
        data jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
    )""")
    op.execute("CREATE INDEX ix_event_outbox_pending ON event_outbox (id) WHERE published_at IS NULL")
    op.execute("""
    CREATE TABLE notifications (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        recipient_role text NOT NULL,
        recipient_id uuid NOT NULL,
        event_type text NOT NULL,
        title text NOT NULL,
        body text NOT NULL,
        data jsonb NOT NULL DEFAULT '{}',
        status text NOT NULL DEFAULT 'PENDING',
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        devices integer NOT NULL DEFAULT 0,
        sent_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_notifications_status CHECK (status IN ('PENDING','SENT','LOGGED','FAILED','NO_DEVICES'))
    )""")
    op.execute("""CREATE INDEX ix_notifications_due ON notifications (next_attempt_at)
                  WHERE status = 'PENDING'""")
    op.execute("CREATE INDEX ix_notifications_recipient ON notifications (recipient_id, created_at)")


def downgrade() -> None:
    for table in ("notifications", "event_outbox", "wallet_transactions", "wallets", "followups",
                  "connect_sessions"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
