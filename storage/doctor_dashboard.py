"""The doctor dashboard's queries: today's metrics and the doctor's session history (SQL text on the
driver; reads only, each statement on its own)."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from domain.sessions import ACTIVE, ENDED, EXPIRED, ONGOING, REJECTED, REQUESTED, sql_list
from storage import driver

_PATIENT_COLUMNS = ("id", "full_name", "age", "sex", "avatar_source", "avatar_url")
# A REQUESTED session past its expiry counts as EXPIRED before the sweeper writes it ($2: now).
_EFFECTIVE_STATUS = f"CASE WHEN s.status = '{REQUESTED}' AND s.expires_at <= $2 THEN '{EXPIRED}' ELSE s.status END"
_HAS_FOLLOWUP = "EXISTS (SELECT 1 FROM followups f WHERE f.parent_session_id = s.id)"

# todays_sessions: consultations started today; ongoing; pending: live requests now; missed:
# requests made today that were rejected or expired. $3, $4: the day's bounds.
_STARTED_TODAY = "s.started_at >= $3 AND s.started_at < $4"
_REQUESTED_TODAY = "s.requested_at >= $3 AND s.requested_at < $4"
_OVERVIEW = f"""
SELECT count(*) FILTER (WHERE {_STARTED_TODAY}) AS todays_sessions,
       count(*) FILTER (WHERE {_EFFECTIVE_STATUS} = '{ONGOING}') AS ongoing,
       count(*) FILTER (WHERE {_EFFECTIVE_STATUS} = '{REQUESTED}') AS pending,
       count(*) FILTER (WHERE {_REQUESTED_TODAY}
                        AND {_EFFECTIVE_STATUS} IN ({sql_list((EXPIRED, REJECTED))})) AS missed
FROM connect_sessions s
WHERE s.doctor_id = $1 AND (s.status IN ({sql_list(ACTIVE)}) OR ({_STARTED_TODAY}) OR ({_REQUESTED_TODAY}))"""

_SESSION_COLUMNS = (
    f"s.id, {_EFFECTIVE_STATUS} AS status, s.category, s.symptoms, s.rate_per_minute, s.requested_at, "
    "s.expires_at, s.started_at, s.ended_at, s.duration_seconds, s.billed_amount, s.end_reason, "
    f"{_HAS_FOLLOWUP} AS has_followup, " + ", ".join(f"u.{c} AS patient_{c}" for c in _PATIENT_COLUMNS)
)
_SESSION_FROM = "FROM connect_sessions s JOIN users u ON u.id = s.patient_id"

# $3: an (effective) status or 'all'; $4/$5: bounds of requested_at (NULL: open); $6: has a
# follow-up or not (NULL: either).
_HISTORY_WHERE = f"""s.doctor_id = $1
  AND ($3::text = 'all' OR {_EFFECTIVE_STATUS} = $3)
  AND ($4::timestamptz IS NULL OR s.requested_at >= $4)
  AND ($5::timestamptz IS NULL OR s.requested_at < $5)
  AND ($6::boolean IS NULL OR {_HAS_FOLLOWUP} = $6)"""
_HISTORY_COUNT = f"SELECT count(*) FROM connect_sessions s WHERE {_HISTORY_WHERE}"
_HISTORY_PAGE = (f"SELECT {_SESSION_COLUMNS} {_SESSION_FROM} WHERE {_HISTORY_WHERE} "
                 "ORDER BY s.requested_at DESC, s.id DESC OFFSET $7 LIMIT $8")

# Consultations that took place (ONGOING or ENDED), latest start first.
_TOOK_PLACE = f"s.doctor_id = $1 AND s.status IN ({sql_list((ONGOING, ENDED))})"
_RECENT_COUNT = f"SELECT count(*) FROM connect_sessions s WHERE {_TOOK_PLACE}"
_RECENT = (f"SELECT {_SESSION_COLUMNS} {_SESSION_FROM} WHERE {_TOOK_PLACE} "
           "ORDER BY s.started_at DESC, s.id DESC LIMIT $3")


def _split(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["patient"] = {c: out.pop(f"patient_{c}") for c in _PATIENT_COLUMNS}
    return out


async def overview_metrics(conn: Connection, doctor_id: uuid.UUID, now: dt.datetime,
                           day_start: dt.datetime, day_end: dt.datetime) -> dict[str, int]:
    """todays_sessions: consultations started today; ongoing; pending: live requests now;
    missed: requests made today that were rejected or expired."""
    row = await driver.fetchrow(conn, _OVERVIEW, doctor_id, now, day_start, day_end)
    assert row is not None  # an aggregate always has its row
    return {key: int(value) for key, value in row.items()}


async def sessions_page(conn: Connection, doctor_id: uuid.UUID, now: dt.datetime, *, status: str,
                        start: dt.datetime | None, end: dt.datetime | None, has_followup: bool | None,
                        skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The doctor's sessions, newest request first. `status` is an (effective) status or "all";
    `start`/`end` bound `requested_at`."""
    where = (doctor_id, now, status, start, end, has_followup)
    total = await driver.fetchval(conn, _HISTORY_COUNT, *where)
    rows = await driver.fetch(conn, _HISTORY_PAGE, *where, skip, limit)
    return [_split(r) for r in rows], int(total or 0)


async def recent_sessions(conn: Connection, doctor_id: uuid.UUID, now: dt.datetime,
                          limit: int) -> tuple[list[dict[str, Any]], int]:
    """Consultations that took place (ONGOING or ENDED), latest start first."""
    total = await driver.fetchval(conn, _RECENT_COUNT, doctor_id)
    rows = await driver.fetch(conn, _RECENT, doctor_id, now, limit)
    return [_split(r) for r in rows], int(total or 0)
