"""Connect sessions, wallet ledger, event outbox.

Revision ID: 0003_realtime
Revises: 0002_doctors_catalogs
"""
from alembic import op  # noqa: F401

revision = "0003_realtime"
down_revision = "0002_doctors_catalogs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
