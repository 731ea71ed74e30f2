"""Connect sessions: changes after the shared 0002 schema (if any).

Revision ID: 0006_sessions
Revises: 0005_event_bus
"""
from alembic import op  # noqa: F401

revision = "0006_sessions"
down_revision = "0005_event_bus"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
