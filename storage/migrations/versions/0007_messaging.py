"""Messages, call sessions, device tokens.

Revision ID: 0007_messaging
Revises: 0006_sessions
"""
from alembic import op

revision = "0007_messaging"
down_revision = "0006_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # `seq` gives a strict order among messages stamped with the same instant (cursor tie-break).
    op.execute("""
    CREATE TABLE messages (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        session_id uuid NOT NULL REFERENCES connect_sessions(id),
        sender_id uuid NOT NULL,
        sender_role text NOT NULL,
        client_message_id uuid NOT NULL,
        content_type text NOT NULL,
        content text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        read_at timestamptz,
        CONSTRAINT ck_messages_sender_role CHECK (sender_role IN ('patient','doctor')),
        CONSTRAINT ck_messages_content_type CHECK (content_type IN ('text','image','file','audio')),
        CONSTRAINT ck_messages_read_after_delivered CHECK (read_at IS NULL OR delivered_at IS NOT NULL)
    )""")
    # Idempotent sends: one row per (session, sender, client_message_id).
    op.execute("""CREATE UNIQUE INDEX uq_messages_client_message
                  ON messages (session_id, sender_id, client_message_id)""")
    op.execute("CREATE INDEX ix_messages_session_order ON messages (session_id, created_at, seq)")
    op.execute("""
    CREATE TABLE call_sessions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        connect_session_id uuid NOT NULL REFERENCES connect_sessions(id),
        call_type text NOT NULL DEFAULT 'AUDIO',
        status text NOT NULL DEFAULT 'CONNECTED',
        livekit_room_name text NOT NULL,
        created_by_role text NOT NULL,
        created_by_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_call_sessions_connect_session_id UNIQUE (connect_session_id),
        CONSTRAINT ck_call_sessions_call_type CHECK (call_type IN ('AUDIO','VIDEO')),
        CONSTRAINT ck_call_sessions_status CHECK (status IN ('CONNECTED','ENDED'))
    )""")
    # A token identifies one app install: re-registering moves it to the caller, never duplicates it.
    op.execute("""
    CREATE TABLE device_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        token text NOT NULL,
        user_id uuid NOT NULL,
        role text NOT NULL,
        platform text NOT NULL,
        app_version text,
        is_active boolean NOT NULL DEFAULT true,
        deactivated_at timestamptz,
        deactivated_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_device_tokens_token UNIQUE (token),
        CONSTRAINT ck_device_tokens_role CHECK (role IN ('client','doctor','admin')),
        CONSTRAINT ck_device_tokens_platform CHECK (platform IN ('android','ios'))
    )""")
    op.execute("""CREATE INDEX ix_device_tokens_recipient ON device_tokens (role, user_id)
                  WHERE is_active""")


def downgrade() -> None:
    for table in ("device_tokens", "call_sessions", "messages"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
