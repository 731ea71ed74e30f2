"""The fuzzy catalog and doctor-search lookups as PL/pgSQL: their plans are cached per connection.

A SQL function that carries SET options (the trigram threshold, the scan settings of migration 0004)
is never inlined, and its query was planned again on every call: ~0.4 ms of the medicine search's
~0.8 ms in the database for a query that reaches the fuzzy step. PL/pgSQL prepares the query once
per connection (`RETURN QUERY` through SPI); the same query, the same SET options, same results.

Revision ID: 0016_search_functions_plpgsql
Revises: 0015_community
"""
from alembic import op

revision = "0016_search_functions_plpgsql"
down_revision = "0015_community"
branch_labels = None
depends_on = None

_FUZZY = "SET pg_trgm.word_similarity_threshold = 0.5"
_BITMAP_SCANS_ONLY = "SET enable_seqscan = off SET enable_indexscan = off SET enable_indexonlyscan = off"

_FUNCTIONS = {
    # Called by doctor_search_ids (migration 0003) for its contains and fuzzy phases.
    "doctor_search_fields_containing(q text)": (
        "SETOF text", f"STRICT ROWS 10 {_BITMAP_SCANS_ONLY}",
        "SELECT f.value FROM doctor_search_fields f WHERE f.value LIKE '%' || q || '%'"),
    "doctor_search_fields_similar(q text)": (
        "TABLE (value text, score real)",
        f"STRICT ROWS 10 SET pg_trgm.word_similarity_threshold = 0.45 {_BITMAP_SCANS_ONLY}",
        """SELECT f.value, strict_word_similarity(q, f.value) + word_similarity(q, f.value)
           FROM doctor_search_fields f WHERE q <% f.value"""),
    "medicine_names_similar(q text, candidates integer)": (
        "TABLE (id uuid, name_normalized text, score real)", f"ROWS 100 {_FUZZY}",
        """SELECT n.id, n.name_normalized, word_similarity(q, n.name_normalized)
           FROM medicine_names n WHERE q <% n.name_normalized LIMIT candidates"""),
    "medicine_salt_names_similar(q text)": (
        "TABLE (salt_normalized text, score real)", f"ROWS 10 {_FUZZY} {_BITMAP_SCANS_ONLY}",
        """SELECT n.salt_normalized, word_similarity(q, n.salt_normalized)
           FROM medicine_salt_names n WHERE q <% n.salt_normalized"""),
    "lab_tests_similar(q text)": (
        "TABLE (id uuid, score real)", f"ROWS 20 {_FUZZY} {_BITMAP_SCANS_ONLY}",
        """SELECT t.id, word_similarity(q, t.name_normalized)
           FROM lab_tests t WHERE q <% t.name_normalized"""),
}


def _define(language: str) -> None:
    for signature, (returns, options, query) in _FUNCTIONS.items():
        body = f"BEGIN RETURN QUERY {query}; END" if language == "plpgsql" else query
        # The OUT columns share names with the tables' columns: the query means the columns.
        prefix = "#variable_conflict use_column\n" if language == "plpgsql" else ""
        op.execute(f"""CREATE OR REPLACE FUNCTION {signature} RETURNS {returns}
            LANGUAGE {language} STABLE {options} AS $$ {prefix}{body} $$""")


def upgrade() -> None:
    _define("plpgsql")


def downgrade() -> None:
    _define("sql")
