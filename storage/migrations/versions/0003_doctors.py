"""Doctor search indexes, health categories, reviews.

Revision ID: 0003_doctors
Revises: 0002_sessions_wallet_outbox
"""
from alembic import op

revision = "0003_doctors"
down_revision = "0002_sessions_wallet_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Fuzzy doctor search (pg_trgm, enabled in 0001): `q <% column` and ILIKE use these.
    op.execute("CREATE INDEX ix_doctors_full_name_trgm ON doctors USING gin (full_name gin_trgm_ops)")
    op.execute("CREATE INDEX ix_doctors_speciality_trgm ON doctors USING gin (speciality_category gin_trgm_ops)")
    op.execute("CREATE INDEX ix_doctors_slug_trgm ON doctors USING gin (slug gin_trgm_ops)")
    # Removing a doctor cascades to favourites; the primary key (user_id, doctor_id) cannot serve that.
    op.execute("CREATE INDEX ix_doctor_favourites_doctor ON doctor_favourites (doctor_id)")
    # Dashboard: "sessions started today" per doctor.
    op.execute("""CREATE INDEX ix_connect_sessions_doctor_started ON connect_sessions (doctor_id, started_at)
                  WHERE started_at IS NOT NULL""")
    op.execute("""
    CREATE TABLE health_categories (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL,
        description text,
        is_active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )""")
    # "Dermatology" and "dermatology" are the same category.
    op.execute("CREATE UNIQUE INDEX uq_health_categories_name ON health_categories (lower(name))")
    op.execute("""
    CREATE TABLE reviews (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        connect_session_id uuid NOT NULL REFERENCES connect_sessions(id),
        doctor_id uuid NOT NULL REFERENCES doctors(id),
        patient_id uuid NOT NULL REFERENCES users(id),
        rating numeric(2,1) NOT NULL,
        comment text,
        reply_text text,
        replied_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_reviews_connect_session_id UNIQUE (connect_session_id),
        CONSTRAINT ck_reviews_rating CHECK (rating >= 1.0 AND rating <= 5.0)
    )""")
    op.execute("CREATE INDEX ix_reviews_doctor_created ON reviews (doctor_id, created_at DESC, id DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS reviews")
    op.execute("DROP TABLE IF EXISTS health_categories")
    for index in ("ix_connect_sessions_doctor_started", "ix_doctor_favourites_doctor", "ix_doctors_slug_trgm",
                  "ix_doctors_speciality_trgm", "ix_doctors_full_name_trgm"):
        op.execute(f"DROP INDEX IF EXISTS {index}")
