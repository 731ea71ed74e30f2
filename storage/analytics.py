"""Analytics reads: a patient's overview and session history, a doctor's performance and review
figures. SQL text on the driver, read-only, each statement on its own.

Each doctor statement is a range scan of one index of that doctor, index-only once the visibility map
is set: ended sessions by end time (ix_connect_sessions_doctor_ended, which includes what was billed)
and reviews by creation time (ix_reviews_doctor_created, which includes rating and replied_at). A
statement with a range and one without are separate texts, so a generic plan never has to serve both
(an `$2 IS NULL OR ...` condition cannot be an index bound). Plans: bench/README.md, "Analytics".
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from storage import driver

Row = dict[str, Any]

# --- the patient --------------------------------------------------------------------------

PATIENT_OVERVIEW = """
SELECT u.height_cm, u.weight_kg,
       (SELECT count(*) FROM connect_sessions s WHERE s.patient_id = u.id AND s.status = 'ENDED')::int
           AS sessions_count,
       (SELECT count(DISTINCT s.doctor_id) FROM connect_sessions s
        WHERE s.patient_id = u.id AND s.status = 'ENDED')::int AS doctors_consulted_count,
       (SELECT count(*) FROM followups f WHERE f.patient_id = u.id)::int AS followups_count
FROM users u WHERE u.id = $1"""
_PATIENT_SESSIONS_COUNT = "SELECT count(*) FROM connect_sessions WHERE patient_id = $1"
# Newest request first (ix_connect_sessions_patient); id breaks ties.
_PATIENT_SESSIONS = """
SELECT s.id, s.status, s.category, s.requested_at, s.started_at, s.ended_at, s.duration_seconds,
       s.billed_minutes, s.billed_amount, s.rate_per_minute, s.end_reason,
       d.id AS doctor_id, d.full_name AS doctor_name, d.slug AS doctor_slug,
       d.speciality_category AS doctor_speciality, d.avatar_source AS doctor_avatar_source,
       d.avatar_url AS doctor_avatar_url,
       EXISTS (SELECT 1 FROM reviews r WHERE r.connect_session_id = s.id) AS has_review
FROM connect_sessions s JOIN doctors d ON d.id = s.doctor_id
WHERE s.patient_id = $1
ORDER BY s.requested_at DESC, s.id DESC LIMIT $2 OFFSET $3"""

# --- the doctor ---------------------------------------------------------------------------

_ENDED_FIGURES = ("count(*)::int AS sessions, coalesce(sum(billed_minutes), 0)::bigint AS minutes, "
                  "coalesce(sum(billed_amount), 0)::bigint AS earnings")
SESSIONS_ALL_TIME = (f"SELECT {_ENDED_FIGURES} FROM connect_sessions "
                     "WHERE doctor_id = $1 AND status = 'ENDED'")
SESSIONS_IN_RANGE = (f"SELECT {_ENDED_FIGURES} FROM connect_sessions "
                     "WHERE doctor_id = $1 AND status = 'ENDED' AND ended_at >= $2 AND ended_at < $3")

_REVIEW_FIGURES = ("count(*)::int AS reviews, avg(rating)::float8 AS average_rating, "
                   "count(replied_at)::int AS replied")
REVIEWS_ALL_TIME = f"SELECT {_REVIEW_FIGURES} FROM reviews WHERE doctor_id = $1"
REVIEWS_IN_RANGE = (f"SELECT {_REVIEW_FIGURES} FROM reviews "
                    "WHERE doctor_id = $1 AND created_at >= $2 AND created_at < $3")
REVIEWS_FROM = f"SELECT {_REVIEW_FIGURES} FROM reviews WHERE doctor_id = $1 AND created_at >= $2"
REVIEWS_UNTIL = f"SELECT {_REVIEW_FIGURES} FROM reviews WHERE doctor_id = $1 AND created_at < $2"

# Buckets by the local calendar ($4: day, week or month; $5: the IANA zone).
TRENDS = """
SELECT date_trunc($4, created_at AT TIME ZONE $5)::date AS bucket, count(*)::int AS reviews,
       avg(rating)::float8 AS average_rating
FROM reviews WHERE doctor_id = $1 AND created_at >= $2 AND created_at < $3
GROUP BY 1"""
# A half-star counts in the star below.
DISTRIBUTION = "SELECT floor(rating)::int AS star, count(*)::int AS reviews FROM reviews WHERE doctor_id = $1 GROUP BY 1"


async def patient_overview(conn: Connection, user_id: uuid.UUID) -> Row | None:
    """The patient's counts and body measures; None without the user."""
    row = await driver.fetchrow(conn, PATIENT_OVERVIEW, user_id)
    return dict(row) if row is not None else None


async def patient_sessions(conn: Connection, user_id: uuid.UUID, limit: int,
                           offset: int) -> tuple[list[Row], int]:
    total = await driver.fetchval(conn, _PATIENT_SESSIONS_COUNT, user_id)
    rows = await driver.fetch(conn, _PATIENT_SESSIONS, user_id, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


async def doctor_sessions(conn: Connection, doctor_id: uuid.UUID, start: dt.datetime | None,
                          end: dt.datetime | None) -> Row:
    """Ended sessions in [start, end) by end time (None, None: all time): sessions, minutes, earnings."""
    if start is None or end is None:
        row = await driver.fetchrow(conn, SESSIONS_ALL_TIME, doctor_id)
    else:
        row = await driver.fetchrow(conn, SESSIONS_IN_RANGE, doctor_id, start, end)
    assert row is not None  # an aggregate always has its row
    return dict(row)


async def doctor_reviews(conn: Connection, doctor_id: uuid.UUID, start: dt.datetime | None,
                         end: dt.datetime | None) -> Row:
    """Reviews created in [start, end) (either bound may be open): count, average rating, replied."""
    if start is not None and end is not None:
        row = await driver.fetchrow(conn, REVIEWS_IN_RANGE, doctor_id, start, end)
    elif start is not None:
        row = await driver.fetchrow(conn, REVIEWS_FROM, doctor_id, start)
    elif end is not None:
        row = await driver.fetchrow(conn, REVIEWS_UNTIL, doctor_id, end)
    else:
        row = await driver.fetchrow(conn, REVIEWS_ALL_TIME, doctor_id)
    assert row is not None
    return dict(row)


async def review_trends(conn: Connection, doctor_id: uuid.UUID, start: dt.datetime, end: dt.datetime,
                        period: str, zone: str) -> dict[dt.date, tuple[int, float | None]]:
    """{first local day of a bucket: (reviews, average rating)} for the buckets that have reviews."""
    rows = await driver.fetch(conn, TRENDS, doctor_id, start, end, period, zone)
    return {r["bucket"]: (r["reviews"], r["average_rating"]) for r in rows}


async def rating_distribution(conn: Connection, doctor_id: uuid.UUID) -> dict[int, int]:
    rows = await driver.fetch(conn, DISTRIBUTION, doctor_id)
    return {r["star"]: r["reviews"] for r in rows}
