"""Foundation: extensions, accounts (users, admins, doctors' identity), tokens, OTP codes.

Revision ID: 0001_foundation
Revises:
"""
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("""
    CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        phone text NOT NULL,
        full_name text,
        email text,
        age integer,
        sex text,
        height_cm double precision,
        weight_kg double precision,
        avatar_source text NOT NULL DEFAULT 'system',
        avatar_url text,
        is_phone_verified boolean NOT NULL DEFAULT true,
        is_active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_users_phone UNIQUE (phone),
        CONSTRAINT ck_users_sex CHECK (sex IS NULL OR sex IN ('male','female','other','prefer_not_to_say'))
    )""")
    op.execute("""
    CREATE TABLE admins (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        username text NOT NULL,
        email text,
        full_name text,
        password_hash text NOT NULL,
        is_active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_admins_username UNIQUE (username),
        CONSTRAINT uq_admins_email UNIQUE (email)
    )""")
    op.execute("""
    CREATE TABLE refresh_tokens (
        jti uuid PRIMARY KEY,
        family_id uuid NOT NULL,
        subject_id uuid NOT NULL,
        role text NOT NULL,
        token_hash text NOT NULL,
        issued_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        replaced_by uuid
    )""")
    op.execute("CREATE INDEX ix_refresh_tokens_family_id ON refresh_tokens (family_id)")
    op.execute("CREATE INDEX ix_refresh_tokens_subject_id ON refresh_tokens (subject_id)")
    op.execute("""
    CREATE TABLE otp_codes (
        phone text PRIMARY KEY,
        code_hash text NOT NULL,
        expires_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
    )""")
    op.execute("""
    CREATE TABLE doctors (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL,
        password_hash text NOT NULL,
        full_name text NOT NULL,
        slug text NOT NULL,
        speciality_category text NOT NULL,
        degrees text[] NOT NULL DEFAULT '{}',
        languages text[] NOT NULL DEFAULT '{}',
        years_experience integer NOT NULL DEFAULT 0,
        about_short text,
        registration_number text,
        rate_per_minute integer NOT NULL,
        rating double precision NOT NULL DEFAULT 0,
        total_reviews integer NOT NULL DEFAULT 0,
        total_sessions integer NOT NULL DEFAULT 0,
        earnings_paise bigint NOT NULL DEFAULT 0,
        is_featured boolean NOT NULL DEFAULT false,
        is_active boolean NOT NULL DEFAULT true,
        presence_status text NOT NULL DEFAULT 'OFFLINE',
        chat_enabled boolean NOT NULL DEFAULT true,
        call_enabled boolean NOT NULL DEFAULT true,
        avatar_source text NOT NULL DEFAULT 'system',
        avatar_url text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_doctors_email UNIQUE (email),
        CONSTRAINT uq_doctors_slug UNIQUE (slug),
        CONSTRAINT ck_doctors_presence CHECK (presence_status IN ('ONLINE','OFFLINE','BUSY')),
        CONSTRAINT ck_doctors_rate CHECK (rate_per_minute >= 0)
    )""")
    op.execute("""
    CREATE TABLE doctor_favourites (
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        doctor_id uuid NOT NULL REFERENCES doctors(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, doctor_id)
    )""")


def downgrade() -> None:
    for table in ("doctor_favourites", "doctors", "otp_codes", "refresh_tokens", "admins", "users"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
