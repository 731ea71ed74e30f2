"""Follow-up rows: create, read (participants only), list, the one transition statement, and the
reminder job's claim. SQL text on the driver; the rules (the transition table, the instants) live in
domain.followups and the use cases in services.followups.

Every read and write answers the follow-up with the names of its two parties (`doctor_name`,
`doctor_speciality`, `patient_name`): one statement, the write in a CTE.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from domain.followups import OPEN, Change, Schedule
from storage import driver
from storage.tables import followups

Row = dict[str, Any]
_OPEN_SQL = ", ".join(f"'{status.value}'" for status in OPEN)
_F = ", ".join(f"f.{c.name}" for c in followups.c)


def _with_names(source: str) -> str:
    """SQL: the follow-up `f` (from `source`) with its parties' names."""
    return (f"SELECT {_F}, d.full_name AS doctor_name, d.speciality_category AS doctor_speciality, "
            f"u.full_name AS patient_name FROM {source} JOIN doctors d ON d.id = f.doctor_id "
            "JOIN users u ON u.id = f.patient_id")


_PARTY_COLUMN = {"client": "patient_id", "doctor": "doctor_id"}

_INSERT = (f"""
WITH f AS (
    INSERT INTO followups (parent_session_id, doctor_id, patient_id, scheduled_date, scheduled_time,
                           scheduled_timezone, past_at, remind_at, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
    ON CONFLICT (parent_session_id) WHERE status IN ({_OPEN_SQL}) DO NOTHING
    RETURNING *)
""" + _with_names("f"))

_GET = {role: _with_names("followups f") + f" WHERE f.id = $1 AND f.{column} = $2"
        for role, column in _PARTY_COLUMN.items()}
# A session's follow-up: the open one, else the latest.
_OF_SESSION = (_with_names("followups f") + f" WHERE f.parent_session_id = $1 "
               f"ORDER BY (f.status IN ({_OPEN_SQL})) DESC, f.created_at DESC, f.id DESC LIMIT 1")

# $2 status (NULL: any); $3 upcoming only, $4 past only, relative to $5 (now).
_LIST_WHERE = {role: f"""f.{column} = $1
  AND ($2::text IS NULL OR f.status = $2)
  AND ($3::boolean IS NOT TRUE OR f.past_at > $5)
  AND ($4::boolean IS NOT TRUE OR f.past_at <= $5)""" for role, column in _PARTY_COLUMN.items()}
_LIST_COUNT = {role: f"SELECT count(*) FROM followups f WHERE {where}" for role, where in _LIST_WHERE.items()}
# Upcoming: soonest first; otherwise latest first (ix_followups_patient / ix_followups_doctor).
_LIST_PAGE = {(role, soonest): _with_names("followups f") + f" WHERE {where} ORDER BY f.past_at "
              f"{'ASC' if soonest else 'DESC'}, f.id LIMIT $6 OFFSET $7"
              for role, where in _LIST_WHERE.items() for soonest in (False, True)}

# Every transition: one UPDATE conditional on the version read ($2), so a concurrent action that
# changed the row first makes this one change nothing.
_TRANSITION = ("""
WITH f AS (
    UPDATE followups SET status = $3, scheduled_date = $4, scheduled_time = $5, proposed_date = $6,
        proposed_time = $7, cancel_reason = $8, cancelled_by = $9, past_at = $10, remind_at = $11,
        reminder_sent_at = CASE WHEN $12::boolean THEN NULL ELSE reminder_sent_at END,
        version = version + 1, updated_at = $13
    WHERE id = $1 AND version = $2
    RETURNING *)
""" + _with_names("f"))

# The reminder job: due accepted follow-ups not reminded yet, claimed with SKIP LOCKED (several
# processes never take one row) and marked in the same statement; the caller writes the pushes in
# the same transaction, so a claim and its push commit (or vanish) together. 'ACCEPTED' is SQL text
# so a generic plan can use the partial index ix_followups_reminder_due.
_CLAIM_DUE = ("""
WITH f AS (
    UPDATE followups SET reminder_sent_at = $1
    WHERE id = ANY(ARRAY(
            SELECT id FROM followups
            WHERE status = 'ACCEPTED' AND reminder_sent_at IS NULL AND remind_at <= $1
            ORDER BY remind_at LIMIT $2 FOR UPDATE SKIP LOCKED))
      AND status = 'ACCEPTED' AND reminder_sent_at IS NULL
    RETURNING *)
""" + _with_names("f"))


def _row(record: Any) -> Row | None:
    return dict(record) if record is not None else None


async def insert(conn: Connection, session: Row, schedule: Schedule, remind_at: dt.datetime,
                 now: dt.datetime) -> Row | None:
    """A PENDING_PATIENT follow-up of `session`; None when the session already has an open one."""
    return _row(await driver.fetchrow(conn, _INSERT, session["id"], session["doctor_id"], session["patient_id"],
                                      schedule.date, schedule.time, schedule.zone.key, schedule.past_at(), remind_at,
                                      now, begin=True))


async def get_for_participant(conn: Connection, followup_id: uuid.UUID, role: str,
                              subject_id: uuid.UUID) -> Row | None:
    """The follow-up if the caller is one of its two parties, else None."""
    query = _GET.get(role)
    return _row(await driver.fetchrow(conn, query, followup_id, subject_id)) if query else None


async def of_session(conn: Connection, session_id: uuid.UUID) -> Row | None:
    return _row(await driver.fetchrow(conn, _OF_SESSION, session_id))


async def page(conn: Connection, role: str, subject_id: uuid.UUID, *, status: str | None, upcoming: bool,
               past: bool, now: dt.datetime, limit: int, offset: int) -> tuple[list[Row], int]:
    where = (subject_id, status, upcoming, past, now)
    total = await driver.fetchval(conn, _LIST_COUNT[role], *where)
    rows = await driver.fetch(conn, _LIST_PAGE[role, upcoming], *where, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


async def apply(conn: Connection, row: Row, change: Change, now: dt.datetime) -> Row | None:
    """Write `change` if the row is still at the version read; None if another action changed it."""
    return _row(await driver.fetchrow(
        conn, _TRANSITION, row["id"], row["version"], change.status.value, change.scheduled_date, change.scheduled_time,
        change.proposed_date, change.proposed_time, change.cancel_reason, change.cancelled_by, change.past_at,
        change.remind_at, change.rearm_reminder, now, begin=True))


async def claim_due_reminders(conn: Connection, now: dt.datetime, limit: int) -> list[Row]:
    rows = await driver.fetch(conn, _CLAIM_DUE, now, limit, begin=True)
    return [dict(r) for r in rows]
