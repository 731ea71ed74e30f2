"""Event bus bookkeeping beyond the outbox (if any).

Revision ID: 0005_event_bus
Revises: 0004_catalogs
"""
from alembic import op  # noqa: F401

revision = "0005_event_bus"
down_revision = "0004_catalogs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
