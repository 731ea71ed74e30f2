"""Doctors (profile, pricing, presence, login), what patients keep about them, categories, reviews."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from storage.tables.base import created_at, metadata, updated_at, uuid_pk

doctors = sa.Table(
    "doctors", metadata,
    uuid_pk(),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("full_name", sa.Text, nullable=False),
    sa.Column("slug", sa.Text, nullable=False, unique=True),
    sa.Column("speciality_category", sa.Text, nullable=False),
    sa.Column("degrees", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("languages", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("years_experience", sa.Integer, nullable=False, server_default="0"),
    sa.Column("about_short", sa.Text),
    sa.Column("registration_number", sa.Text),
    sa.Column("rate_per_minute", sa.Integer, nullable=False),
    sa.Column("rating", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("total_reviews", sa.Integer, nullable=False, server_default="0"),
    sa.Column("total_sessions", sa.Integer, nullable=False, server_default="0"),
    sa.Column("earnings_paise", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("is_featured", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("presence_status", sa.Text, nullable=False, server_default="OFFLINE"),
    sa.Column("chat_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("call_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("avatar_source", sa.Text, nullable=False, server_default="system"),
    sa.Column("avatar_url", sa.Text),
    created_at(),
    updated_at(),
    sa.CheckConstraint("presence_status IN ('ONLINE','OFFLINE','BUSY')", name="presence"),
    sa.CheckConstraint("rate_per_minute >= 0", name="rate"),
)
# Trigram indexes on the doctors' own columns (migration 0003; GET /doctors/search reads the search
# tables below instead).
sa.Index("ix_doctors_full_name_trgm", doctors.c.full_name, postgresql_using="gin",
         postgresql_ops={"full_name": "gin_trgm_ops"})
sa.Index("ix_doctors_speciality_trgm", doctors.c.speciality_category, postgresql_using="gin",
         postgresql_ops={"speciality_category": "gin_trgm_ops"})
sa.Index("ix_doctors_slug_trgm", doctors.c.slug, postgresql_using="gin", postgresql_ops={"slug": "gin_trgm_ops"})
# The admin console's account list, newest first (migration 0015).
sa.Index("ix_doctors_created_at", doctors.c.created_at.desc(), doctors.c.id.desc())

# Doctor search (storage/doctor_search.py), kept in step with `doctors` by the triggers and SQL
# functions of migration 0003, which write and read both tables; the code only calls the functions.
# Every word-start suffix of an active doctor's name, speciality and slug, with the rating.
doctor_search_terms = sa.Table(
    "doctor_search_terms", metadata,
    sa.Column("doctor_id", UUID(as_uuid=True), sa.ForeignKey("doctors.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("term", sa.Text, primary_key=True),
    sa.Column("whole_field", sa.Boolean, nullable=False),
    sa.Column("rating", sa.Float, nullable=False),
)
sa.Index("ix_doctor_search_terms_ranked", doctor_search_terms.c.term, doctor_search_terms.c.rating.desc(),
         doctor_search_terms.c.doctor_id, postgresql_ops={"term": "text_pattern_ops"},
         postgresql_include=["whole_field"])

# The distinct names and specialities.
doctor_search_fields = sa.Table(
    "doctor_search_fields", metadata,
    sa.Column("value", sa.Text, primary_key=True),
)
sa.Index("ix_doctor_search_fields_trgm", doctor_search_fields.c.value, postgresql_using="gin",
         postgresql_ops={"value": "gin_trgm_ops"})

favourites = sa.Table(
    "doctor_favourites", metadata,
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("doctor_id", UUID(as_uuid=True), sa.ForeignKey("doctors.id", ondelete="CASCADE"), primary_key=True),
    created_at(),
)
# Removing a doctor cascades to favourites; the primary key (user_id, doctor_id) cannot serve that.
sa.Index("ix_doctor_favourites_doctor", favourites.c.doctor_id)

# Schema: migration 0003 (unique on lower(name)).
health_categories = sa.Table(
    "health_categories", metadata,
    uuid_pk(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    created_at(),
    updated_at(),
)
# "Dermatology" and "dermatology" are the same category.
sa.Index("uq_health_categories_name", sa.func.lower(health_categories.c.name), unique=True)

# Schema: migration 0003. One review per connect session; written by the reviews endpoints.
reviews = sa.Table(
    "reviews", metadata,
    uuid_pk(),
    sa.Column("connect_session_id", UUID(as_uuid=True), sa.ForeignKey("connect_sessions.id"),
              nullable=False, unique=True),
    sa.Column("doctor_id", UUID(as_uuid=True), sa.ForeignKey("doctors.id"), nullable=False),
    sa.Column("patient_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("rating", sa.Numeric(2, 1, asdecimal=False), nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("reply_text", sa.Text),
    sa.Column("replied_at", sa.DateTime(timezone=True)),
    created_at(),
    sa.Column("reply_updated_at", sa.DateTime(timezone=True)),  # migration 0014
    sa.CheckConstraint("rating >= 1.0 AND rating <= 5.0", name="rating"),
)
# A doctor's reviews newest first; rating and replied_at included so one doctor's review analytics
# are index-only scans (migration 0014).
sa.Index("ix_reviews_doctor_created", reviews.c.doctor_id, reviews.c.created_at.desc(), reviews.c.id.desc(),
         postgresql_include=["rating", "replied_at"])

# Migration 0014: the last review reminder a doctor sent for a session (at most one per 24 h, claimed
# by a conditional upsert).
review_reminders = sa.Table(
    "review_reminders", metadata,
    sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("connect_sessions.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_count", sa.Integer, nullable=False, server_default="1"),
)
