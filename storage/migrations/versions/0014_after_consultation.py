"""Reviews, replies, follow-ups and their reminders, analytics indexes.

Revision ID: 0014_after_consultation
Revises: 0013_money
"""
from alembic import op  # noqa: F401

revision = "0014_after_consultation"
down_revision = "0013_money"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
