"""Medicines and lab-test catalogs with prefix and trigram indexes.

Search runs in three phases (storage/catalogs.py): prefix through B-tree text_pattern_ops
indexes, contains through trigram GIN indexes, fuzzy through the same GIN indexes (pg_trgm word
similarity). Salts and lab-test aliases live one per row in side tables, so that each can be
prefix-searched by a B-tree (an array column cannot be).

Revision ID: 0004_catalogs
Revises: 0003_doctors
"""
from alembic import op

revision = "0004_catalogs"
down_revision = "0003_doctors"
branch_labels = None
depends_on = None


_FUZZY = "SET pg_trgm.word_similarity_threshold = 0.5"
_BITMAP_SCANS_ONLY = "SET enable_seqscan = off SET enable_indexscan = off SET enable_indexonlyscan = off"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Natural key: provider + lower-cased name + a hash of the composition. The 1mg data repeats
    # ~300 names with different compositions (different products); those stay separate rows. Exact
    # repeats of name and composition are one product: the later row updates the earlier one.
    op.execute("""
    CREATE TABLE medicines (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        provider text NOT NULL DEFAULT '1mg',
        name text NOT NULL,
        name_normalized text NOT NULL,
        composition text NOT NULL DEFAULT '',
        composition_key text NOT NULL,
        generic_name text,
        salts text[] NOT NULL DEFAULT '{}',
        form text NOT NULL,
        manufacturer text,
        product_introduction text,
        uses text[] NOT NULL DEFAULT '{}',
        side_effects text[],
        how_it_works text,
        safety_advice jsonb,
        source_url text,
        review_excellent_pct smallint,
        review_average_pct smallint,
        review_poor_pct smallint,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_medicines_natural_key UNIQUE (provider, name_normalized, composition_key),
        CONSTRAINT ck_medicines_reviews CHECK (
            (review_excellent_pct IS NULL OR review_excellent_pct BETWEEN 0 AND 100)
            AND (review_average_pct IS NULL OR review_average_pct BETWEEN 0 AND 100)
            AND (review_poor_pct IS NULL OR review_poor_pct BETWEEN 0 AND 100))
    )""")

    # Search runs on narrow projections of the catalog, not on the wide medicines heap: ranking a few
    # thousand trigram candidates read from 650-byte rows costs 5-150 ms at 250k medicines, from
    # 70-byte rows well under 1 ms (bench/README.md). name_normalized is part of the natural key, so
    # a medicine id's copies below never go stale.
    op.execute("""
    CREATE TABLE medicine_names (
        id uuid PRIMARY KEY REFERENCES medicines(id) ON DELETE CASCADE,
        name_normalized text NOT NULL
    )""")
    op.execute("CREATE INDEX ix_medicine_names_prefix ON medicine_names "
               "(name_normalized text_pattern_ops) INCLUDE (id)")
    op.execute("CREATE INDEX ix_medicine_names_trgm ON medicine_names USING gin (name_normalized gin_trgm_ops)")
    # One row per salt of a medicine, indexed in ranking order per salt: "the first 10 medicines
    # containing paracetamol" is an index-only range read, however many there are.
    op.execute("""
    CREATE TABLE medicine_salts (
        medicine_id uuid NOT NULL REFERENCES medicines(id) ON DELETE CASCADE,
        position smallint NOT NULL,
        salt_normalized text NOT NULL,
        name_normalized text NOT NULL,
        PRIMARY KEY (medicine_id, position)
    )""")
    op.execute("CREATE INDEX ix_medicine_salts_ranked ON medicine_salts "
               "(salt_normalized, (length(name_normalized)), name_normalized, medicine_id)")
    # The distinct salts (about a thousand in the whole 1mg catalog): salt prefix, contains and fuzzy
    # matching happen here, then reach the medicines through ix_medicine_salts_ranked.
    op.execute("CREATE TABLE medicine_salt_names (salt_normalized text NOT NULL)")
    op.execute("CREATE UNIQUE INDEX ix_medicine_salt_names_prefix ON medicine_salt_names "
               "(salt_normalized text_pattern_ops)")
    op.execute("CREATE INDEX ix_medicine_salt_names_trgm ON medicine_salt_names "
               "USING gin (salt_normalized gin_trgm_ops)")

    # The Lal PathLabs data has no codes: `code` stays NULL unless a source provides one.
    op.execute("""
    CREATE TABLE lab_tests (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        provider text NOT NULL DEFAULT 'lal_pathlabs',
        name text NOT NULL,
        name_normalized text NOT NULL,
        aliases text[] NOT NULL DEFAULT '{}',
        code text,
        parameters_count integer,
        price_paise integer,
        original_price_paise integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_lab_tests_natural_key UNIQUE (provider, name_normalized),
        CONSTRAINT uq_lab_tests_code UNIQUE (provider, code),
        CONSTRAINT ck_lab_tests_amounts CHECK (
            (price_paise IS NULL OR price_paise >= 0)
            AND (original_price_paise IS NULL OR original_price_paise >= 0)
            AND (parameters_count IS NULL OR parameters_count >= 0))
    )""")
    op.execute("CREATE INDEX ix_lab_tests_name_prefix ON lab_tests (name_normalized text_pattern_ops)")
    op.execute("CREATE INDEX ix_lab_tests_code_prefix ON lab_tests (lower(code) text_pattern_ops)")
    op.execute("CREATE INDEX ix_lab_tests_name_trgm ON lab_tests USING gin (name_normalized gin_trgm_ops)")
    op.execute("""
    CREATE TABLE lab_test_aliases (
        lab_test_id uuid NOT NULL REFERENCES lab_tests(id) ON DELETE CASCADE,
        position smallint NOT NULL,
        alias_normalized text NOT NULL,
        PRIMARY KEY (lab_test_id, position)
    )""")
    op.execute("CREATE INDEX ix_lab_test_aliases_prefix ON lab_test_aliases (alias_normalized text_pattern_ops)")

    # Fuzzy lookups: `q <% column` (pg_trgm word similarity) through the trigram GIN indexes. The
    # threshold is set on the functions, so that callers need no transaction for a SET LOCAL and
    # nothing leaks to other users of a pooled connection: 0.5 lets typos such as "amoxyclv" (0.78
    # against "amoxyclav 625 tablet") or "augmntin" (0.58) through; pg_trgm's default 0.6 would not.
    # On the two small tables the planner would rather run word_similarity() on every row (2-6 ms)
    # than read the index (~0.1 ms), so those functions leave it only the index.
    op.execute(f"""
    CREATE FUNCTION medicine_names_similar(q text, candidates integer)
    RETURNS TABLE (id uuid, name_normalized text, score real)
    LANGUAGE sql STABLE ROWS 100 {_FUZZY}
    AS $$ SELECT n.id, n.name_normalized, word_similarity(q, n.name_normalized)
          FROM medicine_names n WHERE q <% n.name_normalized LIMIT candidates $$""")
    op.execute(f"""
    CREATE FUNCTION medicine_salt_names_similar(q text) RETURNS TABLE (salt_normalized text, score real)
    LANGUAGE sql STABLE ROWS 10 {_FUZZY} {_BITMAP_SCANS_ONLY}
    AS $$ SELECT n.salt_normalized, word_similarity(q, n.salt_normalized)
          FROM medicine_salt_names n WHERE q <% n.salt_normalized $$""")
    op.execute(f"""
    CREATE FUNCTION lab_tests_similar(q text) RETURNS TABLE (id uuid, score real)
    LANGUAGE sql STABLE ROWS 20 {_FUZZY} {_BITMAP_SCANS_ONLY}
    AS $$ SELECT t.id, word_similarity(q, t.name_normalized)
          FROM lab_tests t WHERE q <% t.name_normalized $$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS lab_tests_similar(text)")
    op.execute("DROP FUNCTION IF EXISTS medicine_salt_names_similar(text)")
    op.execute("DROP FUNCTION IF EXISTS medicine_names_similar(text, integer)")
    for table in ("lab_test_aliases", "lab_tests", "medicine_salt_names", "medicine_salts", "medicine_names",
                  "medicines"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
