"""Messages, call sessions, device tokens.

Revision ID: 0007_messaging
Revises: 0006_sessions
"""
from alembic import op  # noqa: F401

revision = "0007_messaging"
down_revision = "0006_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
