"""Attachments, reports, recordings, prescriptions, lab-test recommendations.

Revision ID: 0005_files
Revises: 0004_messaging
"""
from alembic import op  # noqa: F401

revision = "0005_files"
down_revision = "0004_messaging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
