"""Public reference catalogs: medicines (1mg) and lab tests (Dr. Lal PathLabs).

Schema: migration 0004_catalogs, which also creates the fuzzy-search SQL functions. Indexes: prefix
(B-tree text_pattern_ops) and trigram GIN; see storage/catalogs.py for the queries they serve.
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
    sa.CheckConstraint("(review_excellent_pct IS NULL OR review_excellent_pct BETWEEN 0 AND 100) "
                       "AND (review_average_pct IS NULL OR review_average_pct BETWEEN 0 AND 100) "
                       "AND (review_poor_pct IS NULL OR review_poor_pct BETWEEN 0 AND 100)", name="reviews"),
)

# Narrow search projections of medicines (see migration 0004 for why they exist).
medicine_names = sa.Table(
    "medicine_names", metadata,
    sa.Column("id", UUID(as_uuid=True), sa.ForeignKey("medicines.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name_normalized", sa.Text, nullable=False),
)
sa.Index("ix_medicine_names_prefix", medicine_names.c.name_normalized,
         postgresql_ops={"name_normalized": "text_pattern_ops"}, postgresql_include=["id"])
sa.Index("ix_medicine_names_trgm", medicine_names.c.name_normalized, postgresql_using="gin",
         postgresql_ops={"name_normalized": "gin_trgm_ops"})

medicine_salts = sa.Table(
    "medicine_salts", metadata,
    sa.Column("medicine_id", UUID(as_uuid=True), sa.ForeignKey("medicines.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("position", sa.SmallInteger, primary_key=True),
    sa.Column("salt_normalized", sa.Text, nullable=False),
    sa.Column("name_normalized", sa.Text, nullable=False),
)
# In ranking order per salt: "the first 10 medicines containing paracetamol" is an index-only range read.
sa.Index("ix_medicine_salts_ranked", medicine_salts.c.salt_normalized, sa.func.length(medicine_salts.c.name_normalized),
         medicine_salts.c.name_normalized, medicine_salts.c.medicine_id)

# The distinct salts (no primary key: the unique prefix index keeps them distinct).
medicine_salt_names = sa.Table(
    "medicine_salt_names", metadata,
    sa.Column("salt_normalized", sa.Text, nullable=False),
)
sa.Index("ix_medicine_salt_names_prefix", medicine_salt_names.c.salt_normalized, unique=True,
         postgresql_ops={"salt_normalized": "text_pattern_ops"})
sa.Index("ix_medicine_salt_names_trgm", medicine_salt_names.c.salt_normalized, postgresql_using="gin",
         postgresql_ops={"salt_normalized": "gin_trgm_ops"})

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
    sa.CheckConstraint("(price_paise IS NULL OR price_paise >= 0) "
                       "AND (original_price_paise IS NULL OR original_price_paise >= 0) "
                       "AND (parameters_count IS NULL OR parameters_count >= 0)", name="amounts"),
)
sa.Index("ix_lab_tests_name_prefix", lab_tests.c.name_normalized, postgresql_ops={"name_normalized": "text_pattern_ops"})
# An expression's operator class is keyed by its label (SQLAlchemy); the label is not part of the index.
sa.Index("ix_lab_tests_code_prefix", sa.func.lower(lab_tests.c.code).label("lower_code"),
         postgresql_ops={"lower_code": "text_pattern_ops"})
sa.Index("ix_lab_tests_name_trgm", lab_tests.c.name_normalized, postgresql_using="gin",
         postgresql_ops={"name_normalized": "gin_trgm_ops"})

lab_test_aliases = sa.Table(
    "lab_test_aliases", metadata,
    sa.Column("lab_test_id", UUID(as_uuid=True), sa.ForeignKey("lab_tests.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("position", sa.SmallInteger, primary_key=True),
    sa.Column("alias_normalized", sa.Text, nullable=False),
)
sa.Index("ix_lab_test_aliases_prefix", lab_test_aliases.c.alias_normalized,
         postgresql_ops={"alias_normalized": "text_pattern_ops"})
