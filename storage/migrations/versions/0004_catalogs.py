"""Medicines and lab-test catalogs with prefix and trigram indexes.

Revision ID: 0004_catalogs
Revises: 0003_doctors
"""
from alembic import op  # noqa: F401

revision = "0004_catalogs"
down_revision = "0003_doctors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
