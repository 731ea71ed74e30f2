"""Messages, video permission and call sessions, device tokens, notifications outbox.

Revision ID: 0004_messaging
Revises: 0003_realtime
"""
from alembic import op  # noqa: F401

revision = "0004_messaging"
down_revision = "0003_realtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
