"""The event outbox no longer NOTIFYs: the relay leader is woken through Redis (gateway.bus_relay).

A transaction that calls pg_notify takes one database-wide lock when it starts to commit and keeps
it until the commit is flushed, so every transaction that wrote an event (every chat message of
every process) committed one after the other, and a slow WAL flush stalled all of them.

Revision ID: 0010_no_outbox_notify
Revises: 0009_queue_indexes
"""
from alembic import op

revision = "0010_no_outbox_notify"
down_revision = "0009_queue_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS event_outbox_notify ON event_outbox")
    op.execute("DROP FUNCTION IF EXISTS event_outbox_notify()")


def downgrade() -> None:
    op.execute("""
    CREATE FUNCTION event_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('event_outbox', '');
        RETURN NULL;
    END $$""")
    op.execute("""CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox
                  FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_notify()""")
