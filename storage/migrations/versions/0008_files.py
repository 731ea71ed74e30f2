"""Attachments, reports, recordings, prescriptions, lab-test recommendations.

Revision ID: 0008_files
Revises: 0007_messaging
"""
from alembic import op  # noqa: F401

revision = "0008_files"
down_revision = "0007_messaging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
