"""Reading reviews (rows are written by the review endpoints of the post-session work)."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import reviews

_LIST_COLUMNS = [reviews.c.id, reviews.c.rating, reviews.c.comment, reviews.c.patient_id, reviews.c.reply_text,
                 reviews.c.replied_at, reviews.c.created_at]


async def doctor_reviews_page(conn: AsyncConnection, doctor_id: uuid.UUID, limit: int,
                              offset: int) -> tuple[list[dict[str, Any]], int]:
    """A doctor's reviews, newest first (id breaks ties so pages never overlap)."""
    where = reviews.c.doctor_id == doctor_id
    total = await conn.scalar(sa.select(sa.func.count()).select_from(reviews).where(where))
    rows = (await conn.execute(
        sa.select(*_LIST_COLUMNS).where(where)
        .order_by(reviews.c.created_at.desc(), reviews.c.id.desc()).limit(limit).offset(offset)
    )).mappings().all()
    return [dict(r) for r in rows], int(total or 0)
