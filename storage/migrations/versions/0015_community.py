"""Community articles and events, and the FCM topic they are pushed on.

- `community_articles`: written by admins; public once `is_published` (`published_at` set on the
  first publish and kept). `community_events`: public from creation.
- `notifications.topic`: a push to an FCM topic is one outbox row (recipient NULL, topic set), sent
  by the push worker as one topic message, not one row per patient.
- `device_tokens.community_subscribed`: whether FCM has the token on the community topic. The push
  worker makes it match what it should be (active patient tokens subscribed, the rest not), so a
  registration, a logout or a token FCM dropped is followed by a subscribe or unsubscribe call that
  survives a crash and is retried after `community_retry_at`.

Revision ID: 0015_community
Revises: 0014_after_consultation
"""
from alembic import op

revision = "0015_community"
down_revision = "0014_after_consultation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE community_articles (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        title text NOT NULL,
        excerpt text NOT NULL,
        content text NOT NULL,
        category text,
        author text,
        image_url text,
        is_published boolean NOT NULL DEFAULT false,
        published_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_community_articles_published CHECK (NOT is_published OR published_at IS NOT NULL)
    )""")
    # The public list: published only, newest first (or by title), optionally one category.
    op.execute("""CREATE INDEX ix_community_articles_published ON community_articles (published_at DESC, id)
                  WHERE is_published""")
    op.execute("""CREATE INDEX ix_community_articles_category ON community_articles (category, published_at DESC)
                  WHERE is_published""")
    op.execute("""
    CREATE TABLE community_events (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        title text NOT NULL,
        description text NOT NULL,
        event_date timestamptz NOT NULL,
        event_type text NOT NULL DEFAULT 'online',
        category text,
        image_url text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_community_events_event_type CHECK (event_type IN ('online','in_person','hybrid'))
    )""")
    op.execute("CREATE INDEX ix_community_events_event_date ON community_events (event_date, id)")
    op.execute("CREATE INDEX ix_community_events_event_type ON community_events (event_type, event_date)")

    op.execute("ALTER TABLE notifications ALTER COLUMN recipient_role DROP NOT NULL")
    op.execute("ALTER TABLE notifications ALTER COLUMN recipient_id DROP NOT NULL")
    op.execute("ALTER TABLE notifications ADD COLUMN topic text")
    op.execute("""ALTER TABLE notifications ADD CONSTRAINT ck_notifications_recipient CHECK (
        (topic IS NULL AND recipient_role IS NOT NULL AND recipient_id IS NOT NULL)
        OR (topic IS NOT NULL AND recipient_role IS NULL AND recipient_id IS NULL))""")

    # The admin console's account search (storage.admin_users): name, email and phone anywhere in
    # the text, newest first over patients and doctors.
    for column in ("full_name", "email", "phone"):
        op.execute(f"CREATE INDEX ix_users_{column}_trgm ON users USING gin ({column} gin_trgm_ops)")
    op.execute("CREATE INDEX ix_users_created_at ON users (created_at DESC, id DESC)")
    op.execute("CREATE INDEX ix_doctors_created_at ON doctors (created_at DESC, id DESC)")

    op.execute("ALTER TABLE device_tokens ADD COLUMN community_subscribed boolean NOT NULL DEFAULT false")
    op.execute("ALTER TABLE device_tokens ADD COLUMN community_retry_at timestamptz")
    # Exactly the tokens whose subscription the worker has to change.
    op.execute("""CREATE INDEX ix_device_tokens_community_pending ON device_tokens (id)
                  WHERE community_subscribed <> (is_active AND role = 'client')""")


def downgrade() -> None:
    for index in ("ix_users_full_name_trgm", "ix_users_email_trgm", "ix_users_phone_trgm", "ix_users_created_at",
                  "ix_doctors_created_at"):
        op.execute(f"DROP INDEX IF EXISTS {index}")
    op.execute("DROP INDEX IF EXISTS ix_device_tokens_community_pending")
    op.execute("ALTER TABLE device_tokens DROP COLUMN IF EXISTS community_retry_at")
    op.execute("ALTER TABLE device_tokens DROP COLUMN IF EXISTS community_subscribed")
    op.execute("DELETE FROM notifications WHERE topic IS NOT NULL")
    op.execute("ALTER TABLE notifications DROP CONSTRAINT IF EXISTS ck_notifications_recipient")
    op.execute("ALTER TABLE notifications DROP COLUMN IF EXISTS topic")
    op.execute("ALTER TABLE notifications ALTER COLUMN recipient_id SET NOT NULL")
    op.execute("ALTER TABLE notifications ALTER COLUMN recipient_role SET NOT NULL")
    op.execute("DROP TABLE IF EXISTS community_events")
    op.execute("DROP TABLE IF EXISTS community_articles")
