"""Doctor search indexes, health categories, reviews.

Revision ID: 0003_doctors
Revises: 0002_sessions_wallet_outbox
"""
from alembic import op

revision = "0003_doctors"
down_revision = "0002_sessions_wallet_outbox"
branch_labels = None
depends_on = None


# --- doctor search (storage/doctor_search.py; plans and figures in bench/README.md) -------------
#
# Three phases, each filling only what the previous left of the wanted rows:
#   1. prefix   — a word of the name, speciality or slug starts with the query (B-tree range over
#                 every word-start suffix of those fields, `doctor_search_terms`)
#   2. contains — the name or speciality contains it (trigram GIN over the distinct field values,
#                 `doctor_search_fields`), for queries of 3+ characters
#   3. fuzzy    — pg_trgm word similarity against the same distinct values, 3+ characters
# Text is compared normalized (lower case, any run of white space and punctuation one space) and
# without a leading title: "Dr. Ankit", "dr-ankit" and "ankit" are the same query.
# The tables carry the rating and hold active doctors only, so a search reads doctors' rows only
# for the page it returns. Triggers keep them in step with `doctors` in the writer's transaction.

_FIELD_MAX = 200  # longer names are cut for the B-tree (queries are at most 100 characters)
# Word separators: white space, ASCII punctuation and symbols (LIKE's % _ \ among them), Unicode
# dashes, quotes and the danda. Not [^[:alnum:]]: the C.UTF-8 locale counts Devanagari vowel signs
# and the virama out of alnum, which would cut "शर्मा" into "शर मा".
_SEPARATORS = r"[\s\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e\u00a0\u00ab\u00b7\u00bb\u2010-\u2027\u2030-\u205e\u0964\u0965]"
_TITLE = "(dr|doctor|डॉ|डॉक्टर)"  # "Dr. Ankit Shah" is found as "ankit shah"
_BITMAP_SCANS_ONLY = "SET enable_seqscan = off SET enable_indexscan = off SET enable_indexonlyscan = off"

DOCTOR_SEARCH = (
    f"""
    CREATE FUNCTION doctor_search_normalize(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT btrim(regexp_replace(lower(t), '{_SEPARATORS}+', ' ', 'g')) $$""",
    f"""
    CREATE FUNCTION doctor_search_untitled(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT left(regexp_replace(doctor_search_normalize(t), '^{_TITLE}( |$)', ''), {_FIELD_MAX}) $$""",
    # "Ankit Kumar Shah" → ("ankit kumar shah", true), ("kumar shah", false), ("shah", false)
    """
    CREATE FUNCTION doctor_search_words(field text) RETURNS TABLE (term text, whole_field boolean)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT array_to_string(s.w[i:], ' '), i = 1
          FROM (SELECT string_to_array(nullif(doctor_search_untitled(field), ''), ' ') AS w) s,
               generate_subscripts(s.w, 1) AS i $$""",
    # Every word-start suffix of an active doctor's name, speciality and slug, with the rating, in
    # ranking order per term: prefix ranges and "the best-rated doctors with this name" are index reads.
    """
    CREATE TABLE doctor_search_terms (
        doctor_id uuid NOT NULL REFERENCES doctors(id) ON DELETE CASCADE,
        term text NOT NULL,
        whole_field boolean NOT NULL,
        rating double precision NOT NULL,
        PRIMARY KEY (doctor_id, term)
    )""",
    """
    CREATE INDEX ix_doctor_search_terms_ranked ON doctor_search_terms
        (term text_pattern_ops, rating DESC, doctor_id) INCLUDE (whole_field)""",
    # The distinct names and specialities (a dozen specialities stand for thousands of doctors).
    # Values of renamed or removed doctors stay; they lead to no doctor.
    "CREATE TABLE doctor_search_fields (value text PRIMARY KEY)",
    "CREATE INDEX ix_doctor_search_fields_trgm ON doctor_search_fields USING gin (value gin_trgm_ops)",
    """
    CREATE FUNCTION doctor_search_index(doctor uuid, full_name text, speciality text, slug text,
                                        rating double precision, is_active boolean) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM doctor_search_terms t WHERE t.doctor_id = doctor;
        IF NOT is_active THEN
            RETURN;
        END IF;
        INSERT INTO doctor_search_fields (value)
        SELECT v FROM (VALUES (doctor_search_untitled(full_name)), (doctor_search_untitled(speciality))) x (v)
        WHERE v <> '' ON CONFLICT DO NOTHING;
        INSERT INTO doctor_search_terms (doctor_id, term, whole_field, rating)
        SELECT doctor, w.term, bool_or(w.whole_field), rating
        FROM (SELECT * FROM doctor_search_words(full_name)
              UNION ALL SELECT * FROM doctor_search_words(speciality)
              UNION ALL SELECT * FROM doctor_search_words(slug)) w
        GROUP BY w.term;
    END $$""",
    """
    CREATE FUNCTION doctor_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM doctor_search_index(NEW.id, NEW.full_name, NEW.speciality_category, NEW.slug, NEW.rating,
                                    NEW.is_active);
        RETURN NULL;
    END $$""",
    """
    CREATE TRIGGER doctor_search_insert AFTER INSERT ON doctors
    FOR EACH ROW EXECUTE FUNCTION doctor_search_refresh()""",
    """
    CREATE TRIGGER doctor_search_update AFTER UPDATE OF full_name, speciality_category, slug, rating, is_active
    ON doctors FOR EACH ROW
    WHEN ((OLD.full_name, OLD.speciality_category, OLD.slug, OLD.rating, OLD.is_active)
          IS DISTINCT FROM (NEW.full_name, NEW.speciality_category, NEW.slug, NEW.rating, NEW.is_active))
    EXECUTE FUNCTION doctor_search_refresh()""",
    """
    SELECT doctor_search_index(id, full_name, speciality_category, slug, rating, is_active) FROM doctors""",
    # Contains and fuzzy lookups on the small dictionary. As for the catalogs (migration 0004), the
    # planner would rather test every row than read the trigram index, so these functions leave it
    # only the index; the fuzzy one carries its threshold: 0.45 lets a one-letter typo in a short
    # word through ("ankt" ~ "ankit" scores 0.6, "gupat" ~ "gupta" 0.5). `q` comes normalized (no
    # LIKE wildcards left in it).
    f"""
    CREATE FUNCTION doctor_search_fields_containing(q text) RETURNS SETOF text
    LANGUAGE sql STABLE STRICT ROWS 10 {_BITMAP_SCANS_ONLY}
    AS $$ SELECT f.value FROM doctor_search_fields f WHERE f.value LIKE '%' || q || '%' $$""",
    f"""
    CREATE FUNCTION doctor_search_fields_similar(q text) RETURNS TABLE (value text, score real)
    LANGUAGE sql STABLE STRICT ROWS 10 SET pg_trgm.word_similarity_threshold = 0.45 {_BITMAP_SCANS_ONLY}
    AS $$ SELECT f.value, strict_word_similarity(q, f.value) + word_similarity(q, f.value)
          FROM doctor_search_fields f WHERE q <% f.value $$""",
    # The ids of the first `wanted` matching active doctors, best first (one call). Phases:
    # see above. Prefix order: the query ending on a word boundary ("ankit" in "Ankit Shah") before
    # a longer word ("Ankita"), a match at the start of a field before a later word, then rating.
    # Contains: rating. Fuzzy: best similarity, then rating. Ties: id. A title alone ("Dr.")
    # matches every doctor: words starting with it ("Dravid") first, then everyone by rating.
    # Contains and fuzzy take per dictionary value the best-rated `wanted` doctors from the ranked
    # index: exact, as a doctor in the overall top `wanted` is in the top `wanted` of its best value.
    """
    CREATE FUNCTION doctor_search_ids(query text, wanted integer) RETURNS uuid[]
    LANGUAGE plpgsql STABLE STRICT AS $$
    DECLARE
        normalized text := doctor_search_normalize(query);
        q text := doctor_search_untitled(query);
        title_only boolean := q = '' AND normalized <> '';
        picked uuid[] := '{}';
    BEGIN
        IF title_only THEN
            q := normalized;
        END IF;
        IF q = '' OR wanted < 1 THEN
            RETURN picked;
        END IF;
        picked := ARRAY(
            SELECT m.doctor_id FROM (
                SELECT t.doctor_id, max(t.rating) AS rating,
                       min(CASE WHEN starts_with(t.term || ' ', q || ' ') THEN 0 ELSE 2 END
                           + CASE WHEN t.whole_field THEN 0 ELSE 1 END) AS rank
                FROM doctor_search_terms t
                WHERE t.term ~>=~ q AND t.term ~<~ (q || chr(1114111))
                GROUP BY t.doctor_id) m
            ORDER BY m.rank, m.rating DESC, m.doctor_id LIMIT wanted);
        IF cardinality(picked) < wanted AND length(q) >= 3 AND NOT title_only THEN
            picked := picked || ARRAY(
                SELECT x.doctor_id FROM doctor_search_fields_containing(q) AS f (value)
                CROSS JOIN LATERAL (
                    SELECT t.doctor_id, t.rating FROM doctor_search_terms t
                    WHERE t.term = f.value AND t.doctor_id <> ALL(picked)
                    ORDER BY t.rating DESC, t.doctor_id LIMIT wanted - cardinality(picked)) x
                GROUP BY x.doctor_id, x.rating
                ORDER BY x.rating DESC, x.doctor_id LIMIT wanted - cardinality(picked));
        END IF;
        IF cardinality(picked) < wanted AND length(q) >= 3 AND NOT title_only THEN
            picked := picked || ARRAY(
                SELECT x.doctor_id FROM doctor_search_fields_similar(q) f
                CROSS JOIN LATERAL (
                    SELECT t.doctor_id, t.rating FROM doctor_search_terms t
                    WHERE t.term = f.value AND t.doctor_id <> ALL(picked)
                    ORDER BY t.rating DESC, t.doctor_id LIMIT wanted - cardinality(picked)) x
                GROUP BY x.doctor_id, x.rating
                ORDER BY max(f.score) DESC, x.rating DESC, x.doctor_id LIMIT wanted - cardinality(picked));
        END IF;
        IF cardinality(picked) < wanted AND title_only THEN
            picked := picked || ARRAY(
                SELECT d.id FROM doctors d WHERE d.is_active AND d.id <> ALL(picked)
                ORDER BY d.rating DESC, d.id LIMIT wanted - cardinality(picked));
        END IF;
        RETURN picked;
    END $$""",
)

DOCTOR_SEARCH_DROP = (
    "DROP FUNCTION IF EXISTS doctor_search_ids(text, integer)",
    "DROP FUNCTION IF EXISTS doctor_search_fields_similar(text)",
    "DROP FUNCTION IF EXISTS doctor_search_fields_containing(text)",
    "DROP TRIGGER IF EXISTS doctor_search_update ON doctors",
    "DROP TRIGGER IF EXISTS doctor_search_insert ON doctors",
    "DROP FUNCTION IF EXISTS doctor_search_refresh()",
    "DROP FUNCTION IF EXISTS doctor_search_index(uuid, text, text, text, double precision, boolean)",
    "DROP TABLE IF EXISTS doctor_search_fields",
    "DROP TABLE IF EXISTS doctor_search_terms",
    "DROP FUNCTION IF EXISTS doctor_search_words(text)",
    "DROP FUNCTION IF EXISTS doctor_search_untitled(text)",
    "DROP FUNCTION IF EXISTS doctor_search_normalize(text)",
)


def upgrade() -> None:
    # Trigram indexes on the doctors' own columns (pg_trgm, enabled in 0001), for `q <% column` and
    # ILIKE. GET /doctors/search no longer reads them (DOCTOR_SEARCH, next); they stay while
    # tests/test_doctors_discovery.py::test_search_uses_trigram_indexes asserts them.
    op.execute("CREATE INDEX ix_doctors_full_name_trgm ON doctors USING gin (full_name gin_trgm_ops)")
    op.execute("CREATE INDEX ix_doctors_speciality_trgm ON doctors USING gin (speciality_category gin_trgm_ops)")
    op.execute("CREATE INDEX ix_doctors_slug_trgm ON doctors USING gin (slug gin_trgm_ops)")
    for statement in DOCTOR_SEARCH:
        op.execute(statement)
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
    for statement in DOCTOR_SEARCH_DROP:
        op.execute(statement)
    op.execute("DROP TABLE IF EXISTS reviews")
    op.execute("DROP TABLE IF EXISTS health_categories")
    for index in ("ix_connect_sessions_doctor_started", "ix_doctor_favourites_doctor", "ix_doctors_slug_trgm",
                  "ix_doctors_speciality_trgm", "ix_doctors_full_name_trgm"):
        op.execute(f"DROP INDEX IF EXISTS {index}")
