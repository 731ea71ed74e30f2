"""Reading reviews (rows are written by the review endpoints of the post-session work)."""
from __future__ import annotations

import uuid
from typing import Any

from storage.pool import Connection

from storage import driver

_COUNT = "SELECT count(*) FROM reviews WHERE doctor_id = $1"
# Newest first; id breaks ties so pages never overlap (index ix_reviews_doctor_created).
_PAGE = ("SELECT id, rating, comment, patient_id, reply_text, replied_at, created_at FROM reviews "
         "WHERE doctor_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3")


async def doctor_reviews_page(conn: Connection, doctor_id: uuid.UUID, limit: int,
                              offset: int) -> tuple[list[dict[str, Any]], int]:
    """A doctor's reviews, newest first (id breaks ties so pages never overlap)."""
    total = await driver.fetchval(conn, _COUNT, doctor_id)
    rows = await driver.fetch(conn, _PAGE, doctor_id, limit, offset)
    return [dict(r) for r in rows], int(total or 0)
