"""Community articles and events.

Revision ID: 0015_community
Revises: 0014_after_consultation
"""
from alembic import op  # noqa: F401

revision = "0015_community"
down_revision = "0014_after_consultation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
