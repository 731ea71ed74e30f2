"""Review rows: the public and the doctor's pages, the submission with the doctor's aggregate, the
reply, the review reminder's claim. SQL text on the driver; rules in domain.reviews.

The doctor's `rating` and `total_reviews` are recomputed from the reviews in the submitting
transaction, after the doctor's row is locked: each statement of a READ COMMITTED transaction sees
what committed before it began, so the aggregate taken after the lock counts every review committed
before (twenty concurrent reviews: +20 and the exact mean, never a lost update).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from domain.reviews import REMINDER_INTERVAL, ReviewSort
from storage import driver
from storage.pool import Connection
from storage.tables import reviews

Row = dict[str, Any]
_FIELDS = ", ".join(f"r.{c.name}" for c in reviews.c)

_COUNT = "SELECT count(*) FROM reviews WHERE doctor_id = $1"
# Newest first; id breaks ties so pages never overlap (index ix_reviews_doctor_created).
_PAGE = ("SELECT id, rating, comment, patient_id, reply_text, replied_at, created_at FROM reviews "
         "WHERE doctor_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3")

# The doctor's dashboard: $2 a whole star (a half-star counts in the star below), $3 has a reply,
# $4/$5 [start, end) of created_at; NULL: no filter.
_MINE_WHERE = """r.doctor_id = $1
  AND ($2::int IS NULL OR (r.rating >= $2 AND r.rating < $2 + 1))
  AND ($3::boolean IS NULL OR (r.reply_text IS NOT NULL) = $3)
  AND ($4::timestamptz IS NULL OR r.created_at >= $4)
  AND ($5::timestamptz IS NULL OR r.created_at < $5)"""
_MINE_ORDER = {
    ReviewSort.DATE_DESC: "r.created_at DESC, r.id DESC",
    ReviewSort.DATE_ASC: "r.created_at ASC, r.id ASC",
    ReviewSort.RATING_DESC: "r.rating DESC, r.created_at DESC, r.id DESC",
    ReviewSort.RATING_ASC: "r.rating ASC, r.created_at DESC, r.id DESC",
}
_MINE_COUNT = f"SELECT count(*) FROM reviews r WHERE {_MINE_WHERE}"
_MINE_PAGE = {sort: f"SELECT {_FIELDS} FROM reviews r WHERE {_MINE_WHERE} ORDER BY {order} LIMIT $6 OFFSET $7"
              for sort, order in _MINE_ORDER.items()}

_LOCK_DOCTOR = "SELECT full_name FROM doctors WHERE id = $1 FOR NO KEY UPDATE"
_INSERT = f"""
INSERT INTO reviews AS r (connect_session_id, doctor_id, patient_id, rating, comment, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (connect_session_id) DO NOTHING
RETURNING {_FIELDS}"""
_REFRESH_DOCTOR = """
UPDATE doctors d SET rating = a.mean, total_reviews = a.n
FROM (SELECT coalesce(avg(rating), 0)::float8 AS mean, count(*)::int AS n FROM reviews WHERE doctor_id = $1) a
WHERE d.id = $1
RETURNING d.rating, d.total_reviews"""

_GET_OWN = f"SELECT {_FIELDS} FROM reviews r WHERE r.id = $1 AND r.doctor_id = $2"
# Each reply change is one statement conditional on the reply's presence.
_REPLY_CREATE = f"""
UPDATE reviews r SET reply_text = $3, replied_at = $4, reply_updated_at = $4
WHERE r.id = $1 AND r.doctor_id = $2 AND r.reply_text IS NULL RETURNING {_FIELDS}"""
_REPLY_UPDATE = f"""
UPDATE reviews r SET reply_text = $3, reply_updated_at = $4
WHERE r.id = $1 AND r.doctor_id = $2 AND r.reply_text IS NOT NULL RETURNING {_FIELDS}"""
_REPLY_DELETE = f"""
UPDATE reviews r SET reply_text = NULL, replied_at = NULL, reply_updated_at = NULL
WHERE r.id = $1 AND r.doctor_id = $2 AND r.reply_text IS NOT NULL RETURNING {_FIELDS}"""
_DOCTOR_NAME = "SELECT full_name FROM doctors WHERE id = $1"

# The review reminder: the doctor's session, whether it has a review, the patient's active devices.
_REMINDER_SESSION = """
SELECT s.id, s.status, s.patient_id, d.full_name AS doctor_name,
       EXISTS (SELECT 1 FROM reviews r WHERE r.connect_session_id = s.id) AS reviewed,
       (SELECT count(*) FROM device_tokens t WHERE t.role = 'client' AND t.user_id = s.patient_id
                                              AND t.is_active)::int AS devices
FROM connect_sessions s JOIN doctors d ON d.id = s.doctor_id
WHERE s.id = $1 AND s.doctor_id = $2"""
# Claimed only if none was sent in the last interval: of two concurrent claims one inserts (or
# updates) and the other, waiting on the row, finds the condition false and gets nothing.
_CLAIM_REMINDER = """
INSERT INTO review_reminders AS m (session_id, sent_at) VALUES ($1, $2)
ON CONFLICT (session_id) DO UPDATE SET sent_at = EXCLUDED.sent_at, sent_count = m.sent_count + 1
WHERE m.sent_at <= $2 - $3::interval
RETURNING m.sent_at"""
_LAST_REMINDER = "SELECT sent_at FROM review_reminders WHERE session_id = $1"


def _row(record: Any) -> Row | None:
    return dict(record) if record is not None else None


async def doctor_reviews_page(conn: Connection, doctor_id: uuid.UUID, limit: int,
                              offset: int) -> tuple[list[dict[str, Any]], int]:
    """A doctor's reviews, newest first (id breaks ties so pages never overlap)."""
    total = await driver.fetchval(conn, _COUNT, doctor_id)
    rows = await driver.fetch(conn, _PAGE, doctor_id, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


async def my_reviews_page(conn: Connection, doctor_id: uuid.UUID, *, star: int | None, has_reply: bool | None,
                          start: dt.datetime | None, end: dt.datetime | None, sort: ReviewSort, limit: int,
                          offset: int) -> tuple[list[Row], int]:
    where = (doctor_id, star, has_reply, start, end)
    total = await driver.fetchval(conn, _MINE_COUNT, *where)
    rows = await driver.fetch(conn, _MINE_PAGE[sort], *where, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


async def lock_doctor(conn: Connection, doctor_id: uuid.UUID) -> str | None:
    """Lock the doctor's row for the aggregate update; their name, or None without the row."""
    row = await driver.fetchrow(conn, _LOCK_DOCTOR, doctor_id, begin=True)
    return row["full_name"] if row is not None else None


async def insert(conn: Connection, session: Row, rating: float, comment: str | None, now: dt.datetime) -> Row | None:
    """The session's review; None when it already has one."""
    return _row(await driver.fetchrow(conn, _INSERT, session["id"], session["doctor_id"], session["patient_id"],
                                      rating, comment, now, begin=True))


async def refresh_doctor_rating(conn: Connection, doctor_id: uuid.UUID) -> Row:
    row = await driver.fetchrow(conn, _REFRESH_DOCTOR, doctor_id, begin=True)
    assert row is not None  # the caller locked the row
    return dict(row)


async def get_own(conn: Connection, review_id: uuid.UUID, doctor_id: uuid.UUID) -> Row | None:
    return _row(await driver.fetchrow(conn, _GET_OWN, review_id, doctor_id))


async def create_reply(conn: Connection, review_id: uuid.UUID, doctor_id: uuid.UUID, text: str,
                       now: dt.datetime) -> Row | None:
    """None: not the doctor's review, or it has a reply already."""
    return _row(await driver.fetchrow(conn, _REPLY_CREATE, review_id, doctor_id, text, now, begin=True))


async def update_reply(conn: Connection, review_id: uuid.UUID, doctor_id: uuid.UUID, text: str,
                       now: dt.datetime) -> Row | None:
    """None: not the doctor's review, or it has no reply."""
    return _row(await driver.fetchrow(conn, _REPLY_UPDATE, review_id, doctor_id, text, now, begin=True))


async def delete_reply(conn: Connection, review_id: uuid.UUID, doctor_id: uuid.UUID) -> Row | None:
    return _row(await driver.fetchrow(conn, _REPLY_DELETE, review_id, doctor_id, begin=True))


async def doctor_name(conn: Connection, doctor_id: uuid.UUID) -> str | None:
    return await driver.fetchval(conn, _DOCTOR_NAME, doctor_id)


async def reminder_session(conn: Connection, session_id: uuid.UUID, doctor_id: uuid.UUID) -> Row | None:
    """The doctor's session with `reviewed`, `devices` (the patient's active tokens), `doctor_name`."""
    return _row(await driver.fetchrow(conn, _REMINDER_SESSION, session_id, doctor_id))


async def claim_reminder(conn: Connection, session_id: uuid.UUID, now: dt.datetime) -> dt.datetime | None:
    """Record a reminder sent now; None (nothing written) when one was sent less than 24 h ago, with
    the time of that one available from `last_reminder`."""
    return await driver.fetchval(conn, _CLAIM_REMINDER, session_id, now, REMINDER_INTERVAL, begin=True)


async def last_reminder(conn: Connection, session_id: uuid.UUID) -> dt.datetime | None:
    return await driver.fetchval(conn, _LAST_REMINDER, session_id)
