"""Public reference catalogs: medicines (1mg) and lab tests (Dr. Lal PathLabs).

Indexes (prefix text_pattern_ops, trigram GIN) are created by migration 0004_catalogs.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from storage.tables.base import created_at, metadata, updated_at, uuid_pk

medicines = sa.Table(
    "medicines", metadata,
    uuid_pk(),
    sa.Column("provider", sa.Text, nullable=False, server_default="1mg"),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_normalized", sa.Text, nullable=False),
    sa.Column("composition", sa.Text, nullable=False, server_default=""),
    sa.Column("composition_key", sa.Text, nullable=False),
    sa.Column("generic_name", sa.Text),
    sa.Column("salts", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("form", sa.Text, nullable=False),
    sa.Column("manufacturer", sa.Text),
    sa.Column("product_introduction", sa.Text),
    sa.Column("uses", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("side_effects", ARRAY(sa.Text)),
    sa.Column("how_it_works", sa.Text),
    sa.Column("safety_advice", JSONB),
    sa.Column("source_url", sa.Text),
    sa.Column("review_excellent_pct", sa.SmallInteger),
    sa.Column("review_average_pct", sa.SmallInteger),
    sa.Column("review_poor_pct", sa.SmallInteger),
    created_at(),
    updated_at(),
    sa.UniqueConstraint("provider", "name_normalized", "composition_key", name="uq_medicines_natural_key"),
)

# Narrow search projections of medicines (see migration 0004 for why they exist).
medicine_names = sa.Table(
    "medicine_names", metadata,
    sa.Column("id", UUID(as_uuid=True), sa.ForeignKey("medicines.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name_normalized", sa.Text, nullable=False),
)

medicine_salts = sa.Table(
    "medicine_salts", metadata,
    sa.Column("medicine_id", UUID(as_uuid=True), sa.ForeignKey("medicines.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("position", sa.SmallInteger, primary_key=True),
    sa.Column("salt_normalized", sa.Text, nullable=False),
    sa.Column("name_normalized", sa.Text, nullable=False),
)

medicine_salt_names = sa.Table(
    "medicine_salt_names", metadata,
    sa.Column("salt_normalized", sa.Text, nullable=False),
)

lab_tests = sa.Table(
    "lab_tests", metadata,
    uuid_pk(),
    sa.Column("provider", sa.Text, nullable=False, server_default="lal_pathlabs"),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_normalized", sa.Text, nullable=False),
    sa.Column("aliases", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("code", sa.Text),
    sa.Column("parameters_count", sa.Integer),
    sa.Column("price_paise", sa.Integer),
    sa.Column("original_price_paise", sa.Integer),
    created_at(),
    updated_at(),
    sa.UniqueConstraint("provider", "name_normalized", name="uq_lab_tests_natural_key"),
    sa.UniqueConstraint("provider", "code", name="uq_lab_tests_code"),
)

lab_test_aliases = sa.Table(
    "lab_test_aliases", metadata,
    sa.Column("lab_test_id", UUID(as_uuid=True), sa.ForeignKey("lab_tests.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("position", sa.SmallInteger, primary_key=True),
    sa.Column("alias_normalized", sa.Text, nullable=False),
)
