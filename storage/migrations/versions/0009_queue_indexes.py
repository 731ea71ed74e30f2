"""Queue tables stay cheap to scan as they churn: indexes that only hold what a worker looks for,
and autovacuum by row count rather than by a fifth of the table.

The relay looked for unassigned events through a partial index on `published_at IS NULL`, which
also kept the entry of every row version that had been given its event id (dead after the next
update) until the table was vacuumed; with the default autovacuum threshold (20 % of the table, an
hour of events) every relay pass read tens of thousands of dead entries. Now:

- `ix_event_outbox_unassigned (id) WHERE event_id IS NULL`: what the relay numbers next;
- `ix_event_outbox_unpublished (event_id) WHERE published_at IS NULL AND event_id IS NOT NULL`:
  numbered but not yet confirmed published (after a crash or a Redis outage);
- the relay and the push worker read them with plain index scans (bitmap scans are turned off for
  those statements), so entries of dead versions are marked dead on the first visit and removed by
  the index itself, without waiting for VACUUM.

Revision ID: 0009_queue_indexes
Revises: 0008_files
"""
from alembic import op

revision = "0009_queue_indexes"
down_revision = "0008_files"
branch_labels = None
depends_on = None

_QUEUE_VACUUM = ("autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000, "
                 "autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000, "
                 "autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 10000")


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_event_outbox_pending")
    op.execute("CREATE INDEX ix_event_outbox_unassigned ON event_outbox (id) WHERE event_id IS NULL")
    op.execute("""CREATE INDEX ix_event_outbox_unpublished ON event_outbox (event_id)
                  WHERE published_at IS NULL AND event_id IS NOT NULL""")
    for table in ("event_outbox", "notifications"):
        op.execute(f"ALTER TABLE {table} SET ({_QUEUE_VACUUM})")


def downgrade() -> None:
    for table in ("event_outbox", "notifications"):
        op.execute(f"""ALTER TABLE {table} RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
                       autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold,
                       autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)""")
    op.execute("DROP INDEX IF EXISTS ix_event_outbox_unpublished")
    op.execute("DROP INDEX IF EXISTS ix_event_outbox_unassigned")
    op.execute("CREATE INDEX ix_event_outbox_pending ON event_outbox (id) WHERE published_at IS NULL")
