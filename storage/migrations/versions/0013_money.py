"""Wallet offers and Cashfree payment orders.

Revision ID: 0013_money
Revises: 0012_audit_log
"""
from alembic import op  # noqa: F401

revision = "0013_money"
down_revision = "0012_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
