"""Doctor search: prefix, then contains, then fuzzy (pg_trgm) over name, speciality and slug.

The phases and their ranking live in the SQL function `doctor_search_ids` of migration 0003, over
narrow search tables its triggers keep in step with `doctors`; this module adds the page and the
columns. Typeahead calls this on every keystroke, so it is one statement on the pooled asyncpg
connection (no transaction, no ORM layer). Plans and figures: bench/README.md, "Catalog search".
"""
from __future__ import annotations

import uuid
from typing import Any

from storage.pool import Connection

from storage import driver

# `wanted` (offset + limit) is an int4 in SQL; no offset that large can reach a match anyway.
_MAX_WANTED = 2**31 - 1

# The columns of DoctorOut (schemas.doctors.doctor_out), not the whole row.
SEARCH_SQL = """
    WITH found AS MATERIALIZED (SELECT (doctor_search_ids($1, $2))[$4 + 1:] AS ids)
    SELECT d.id, d.full_name, d.slug, d.speciality_category, d.degrees, d.languages, d.rating,
           d.total_reviews, d.years_experience, d.rate_per_minute, d.presence_status, d.chat_enabled,
           d.call_enabled, d.is_featured, d.avatar_source, d.avatar_url,
           EXISTS (SELECT 1 FROM doctor_favourites f WHERE f.user_id = $3 AND f.doctor_id = d.id) AS is_favourite
    FROM found JOIN doctors d ON d.id = ANY(found.ids) AND d.is_active
    ORDER BY array_position(found.ids, d.id)"""


async def search_doctors(conn: Connection, q: str, *, limit: int, offset: int,
                         user_id: uuid.UUID | None) -> list[dict[str, Any]]:
    """Active doctors matching `q`, best first; `is_favourite` for `user_id` (None: false)."""
    wanted = offset + limit
    if wanted > _MAX_WANTED:
        return []
    return [dict(row) for row in await driver.fetch(conn, SEARCH_SQL, q, wanted, user_id, offset)]
