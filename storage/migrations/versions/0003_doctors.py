"""Doctor search indexes, health categories, reviews.

Revision ID: 0003_doctors
Revises: 0002_sessions_wallet_outbox
"""
from alembic import op  # noqa: F401

revision = "0003_doctors"
down_revision = "0002_sessions_wallet_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
