"""Fuzzy doctor search with pg_trgm over name, speciality and slug (GIN trigram indexes, migration 0003)."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.doctors import favourite_flag
from storage.tables import doctors

# `q <% column` is true when word_similarity(q, column) reaches this; 0.45 lets a one-letter typo in a
# short word through ("ankt" ~ "Ankit" scores 0.6) while keeping unrelated names out.
WORD_SIMILARITY_THRESHOLD = 0.45
_FIELDS = (doctors.c.full_name, doctors.c.speciality_category, doctors.c.slug)


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_doctors(conn: AsyncConnection, q: str, *, limit: int, offset: int,
                         user_id: uuid.UUID | None) -> list[dict[str, Any]]:
    """Active doctors matching `q`, best first.

    A match is a trigram word match (typo tolerant) or a plain substring, on any of the three
    fields; both forms are answered by the GIN indexes. Order: doctors with a field containing `q`
    literally come before fuzzy-only matches; then by the best per-field score, where an exact
    whole-word match (strict_word_similarity = 1) beats a match inside a longer word; then rating, id.
    """
    # Scoped to the caller's transaction (is_local = true).
    await conn.execute(sa.select(sa.func.set_config(
        "pg_trgm.word_similarity_threshold", str(WORD_SIMILARITY_THRESHOLD), True)))
    term = sa.cast(sa.bindparam("q", q), sa.Text)
    pattern = _like_pattern(q)
    matches = sa.or_(*[term.op("<%")(column) for column in _FIELDS],
                     *[column.ilike(pattern, escape="\\") for column in _FIELDS])
    score = sa.func.greatest(*[
        (sa.func.strict_word_similarity(term, column) + sa.func.word_similarity(term, column)) / 2
        for column in _FIELDS])
    literal = sa.case((sa.or_(*[column.ilike(pattern, escape="\\") for column in _FIELDS]), 0), else_=1)
    query = (
        sa.select(doctors, favourite_flag(user_id))
        .where(doctors.c.is_active, matches)
        .order_by(literal, score.desc(), doctors.c.rating.desc(), doctors.c.id)
        .offset(offset).limit(limit)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings().all()]
