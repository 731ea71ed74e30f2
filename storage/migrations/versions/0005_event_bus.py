"""Event bus bookkeeping: bus event ids assigned by the relay, replay indexes, wake-up trigger.

`event_id` is the id clients see (SSE `id:`, websocket `id`). The relay assigns it from
`event_bus_seq` in publish order (the order rows became visible, i.e. commit order), not at insert:
an outbox `id` is taken at INSERT, so a transaction that commits later can hold a smaller one.
Ids live in PostgreSQL, so they survive a Redis restart, and replay after an id Redis no longer
holds is served from this table.

Revision ID: 0005_event_bus
Revises: 0004_catalogs
"""
from alembic import op

revision = "0005_event_bus"
down_revision = "0004_catalogs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE event_bus_seq AS bigint")
    op.execute("ALTER TABLE event_outbox ADD COLUMN event_id bigint")
    op.execute("CREATE UNIQUE INDEX uq_event_outbox_event_id ON event_outbox (event_id)")
    # Replay of one channel after an id (Redis lost or trimmed its history).
    op.execute("""CREATE INDEX ix_event_outbox_channel_event ON event_outbox (channel, event_id)
                  WHERE event_id IS NOT NULL""")
    # Pruning of old published rows.
    op.execute("""CREATE INDEX ix_event_outbox_published ON event_outbox (published_at)
                  WHERE published_at IS NOT NULL""")
    # Wake the relay leader (LISTEN event_outbox) when a transaction that wrote events commits,
    # whichever process wrote them. Notifications are delivered at commit, never on rollback.
    op.execute("""
    CREATE FUNCTION event_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('event_outbox', '');
        RETURN NULL;
    END $$""")
    op.execute("""CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox
                  FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_notify()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS event_outbox_notify ON event_outbox")
    op.execute("DROP FUNCTION IF EXISTS event_outbox_notify()")
    op.execute("DROP INDEX IF EXISTS ix_event_outbox_published")
    op.execute("DROP INDEX IF EXISTS ix_event_outbox_channel_event")
    op.execute("DROP INDEX IF EXISTS uq_event_outbox_event_id")
    op.execute("ALTER TABLE event_outbox DROP COLUMN IF EXISTS event_id")
    op.execute("DROP SEQUENCE IF EXISTS event_bus_seq")
