"""Doctors search indexes, categories, reviews, catalogs (medicines, lab tests).

Revision ID: 0002_doctors_catalogs
Revises: 0001_foundation
"""
from alembic import op  # noqa: F401

revision = "0002_doctors_catalogs"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
