"""Connect session rows: reads, and every transition as a conditional UPDATE on the expected status
(so concurrent callers cannot both win). SQL text on the driver (storage.driver), prepared once per
connection. Rules, billing, presence and who is told what live in domain/ and services.sessions.

The new-request path (the hottest write) is two statements: one read of everything it checks
(`request_context`), one atomic INSERT of the session with its event and push (`insert_request`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from domain.sessions import ACTIVE, CANCELLED, ENDED, EXPIRED, ONGOING, REJECTED, REQUESTED, sql_list
from storage import driver, events
from storage.session_requests import PATIENT_COLUMNS
from storage.tables import connect_sessions

_SESSION_FIELDS = ", ".join(c.name for c in connect_sessions.c)


# --- reads --------------------------------------------------------------------------------

_PATIENT = f"SELECT {', '.join(PATIENT_COLUMNS)} FROM users WHERE id = $1"


async def patient(conn: Connection, user_id: uuid.UUID) -> dict[str, Any]:
    row = await driver.fetchrow(conn, _PATIENT, user_id)
    if row is None:
        raise LookupError(f"no user {user_id}")
    return dict(row)


@dataclasses.dataclass(frozen=True)
class RequestContext:
    """What a new request is checked against, read in one statement."""
    patient: dict[str, Any]
    doctor: dict[str, Any] | None          # None: no such active doctor
    active: dict[str, Any] | None          # the patient's REQUESTED/ONGOING session (id, status, expires_at)
    balance: int                           # the patient's wallet (0 without one)


_DOCTOR_COLUMNS = ("id", "full_name", "rate_per_minute", "presence_status", "chat_enabled", "call_enabled")
_ACTIVE_COLUMNS = ("id", "status", "expires_at")
_REQUEST_CONTEXT = (
    "SELECT " + ", ".join(f"u.{c}" for c in PATIENT_COLUMNS)
    + ", " + ", ".join(f"d.{c} AS doctor__{c}" for c in _DOCTOR_COLUMNS)
    + ", " + ", ".join(f"a.{c} AS active__{c}" for c in _ACTIVE_COLUMNS)
    + ", coalesce(w.balance, 0) AS balance FROM users u"
    " LEFT JOIN doctors d ON d.id = $2 AND d.is_active"
    f" LEFT JOIN connect_sessions a ON a.patient_id = u.id AND a.status IN ({sql_list(ACTIVE)})"
    " LEFT JOIN wallets w ON w.user_id = u.id"
    " WHERE u.id = $1"
)


async def request_context(conn: Connection, patient_id: uuid.UUID, doctor_id: uuid.UUID) -> RequestContext:
    """The patient, the requested doctor (if active), the patient's active session and balance.

    Unlocked reads, like the checks they feed: the partial unique index settles concurrent requests.
    """
    row = await driver.fetchrow(conn, _REQUEST_CONTEXT, patient_id, doctor_id)
    if row is None:
        raise LookupError(f"no user {patient_id}")

    def part(prefix: str, columns: tuple[str, ...]) -> dict[str, Any] | None:
        values = {c: row[f"{prefix}__{c}"] for c in columns}
        return values if values["id"] is not None else None

    return RequestContext(patient={c: row[c] for c in PATIENT_COLUMNS}, doctor=part("doctor", _DOCTOR_COLUMNS),
                          active=part("active", _ACTIVE_COLUMNS), balance=int(row["balance"]))


_ONGOING_WITH_BALANCES = f"""
    SELECT s.id, s.started_at, s.rate_per_minute, coalesce(w.balance, 0) AS balance
    FROM connect_sessions s LEFT JOIN wallets w ON w.user_id = s.patient_id
    WHERE s.status = '{ONGOING}'"""


async def ongoing_with_balances(conn: Connection) -> list[dict[str, Any]]:
    """Every ONGOING session with its patient's current balance (unlocked snapshot)."""
    return [dict(r) for r in await driver.fetch(conn, _ONGOING_WITH_BALANCES)]


_LOCK_ONGOING = f"SELECT {_SESSION_FIELDS} FROM connect_sessions WHERE id = $1 AND status = '{ONGOING}' FOR UPDATE"


async def lock_ongoing(conn: Connection, session_id: uuid.UUID) -> dict[str, Any] | None:
    row = await driver.fetchrow(conn, _LOCK_ONGOING, session_id, begin=True)
    return dict(row) if row else None


_DOCTOR_ONGOING = f"SELECT count(*) FROM connect_sessions WHERE doctor_id = $1 AND status = '{ONGOING}'"


async def doctor_ongoing_count(conn: Connection, doctor_id: uuid.UUID) -> int:
    return int(await driver.fetchval(conn, _DOCTOR_ONGOING, doctor_id))


# --- request ------------------------------------------------------------------------------

# One statement: the session, its announcement and its push exist together or not at all (the
# partial unique index turns a second active request into no row). Commits on its own.
_INSERT_REQUEST = f"""
WITH s AS (
    INSERT INTO connect_sessions (id, patient_id, doctor_id, status, category, symptoms, active_treatment,
                                  medical_history, rate_per_minute, room_name, requested_at, expires_at,
                                  created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8, $9, $10, $11, $12, $11, $11)
    ON CONFLICT (patient_id) WHERE status IN ({sql_list(ACTIVE)}) DO NOTHING
    RETURNING {_SESSION_FIELDS}
), event AS ({events.event_insert_from("s", 13)}
), push AS ({events.push_insert_from("s", 16)}
)
SELECT * FROM s"""


async def insert_request(conn: Connection, session: dict[str, Any], *, event: tuple[Any, ...],
                         push: tuple[Any, ...]) -> dict[str, Any] | None:
    """The new REQUESTED session with its event (`events.event_args`) and push (`events.push_args`),
    in one statement; None if the patient already has an active session (the partial unique index)."""
    row = await driver.fetchrow(
        conn, _INSERT_REQUEST,
        session["id"], session["patient_id"], session["doctor_id"], REQUESTED, session["category"],
        session["symptoms"], session["active_treatment"], session["medical_history"],
        session["rate_per_minute"], session["room_name"], session["requested_at"], session["expires_at"],
        *event, *push)
    if row is None:
        return None
    events.mark_pending(conn, events=True, pushes=True)
    return dict(row)


# --- transitions: each returns the row, or None when the session was not in the expected state ---

_RETURNING = f"RETURNING {_SESSION_FIELDS}"
_EXPIRE = (f"UPDATE connect_sessions SET status = '{EXPIRED}', updated_at = $2 "
           f"WHERE id = $1 AND status = '{REQUESTED}' AND expires_at <= $2 {_RETURNING}")
_ACCEPT = (f"UPDATE connect_sessions SET status = '{ONGOING}', started_at = $2, updated_at = $2 "
           f"WHERE id = $1 AND status = '{REQUESTED}' AND expires_at > $2 {_RETURNING}")
_REJECT = (f"UPDATE connect_sessions SET status = '{REJECTED}', ended_at = $2, ended_by = 'doctor', updated_at = $2 "
           f"WHERE id = $1 AND status = '{REQUESTED}' {_RETURNING}")
_CANCEL = (f"UPDATE connect_sessions SET status = '{CANCELLED}', ended_at = $2, ended_by = 'patient', "
           f"end_reason = $3, end_note = $4, updated_at = $2 WHERE id = $1 AND status = '{REQUESTED}' {_RETURNING}")
_END = (f"UPDATE connect_sessions SET status = '{ENDED}', ended_at = $2, ended_by = $3, end_reason = $4, "
        f"end_note = $5, updated_at = $2 WHERE id = $1 AND status = '{ONGOING}' {_RETURNING}")
_BILLED = (f"UPDATE connect_sessions SET duration_seconds = $2, billed_minutes = $3, billed_amount = $4 "
           f"WHERE id = $1 {_RETURNING}")


async def _transition(conn: Connection, query: str, *args: Any) -> dict[str, Any] | None:
    row = await driver.fetchrow(conn, query, *args, begin=True)
    return dict(row) if row else None


async def expire(conn: Connection, session_id: uuid.UUID, now: dt.datetime) -> dict[str, Any] | None:
    """REQUESTED → EXPIRED if past its expiry."""
    return await _transition(conn, _EXPIRE, session_id, now)


async def accept(conn: Connection, session_id: uuid.UUID, now: dt.datetime) -> dict[str, Any] | None:
    return await _transition(conn, _ACCEPT, session_id, now)


async def reject(conn: Connection, session_id: uuid.UUID, now: dt.datetime) -> dict[str, Any] | None:
    return await _transition(conn, _REJECT, session_id, now)


async def cancel(conn: Connection, session_id: uuid.UUID, now: dt.datetime, *,
                 reason: str | None, note: str | None) -> dict[str, Any] | None:
    return await _transition(conn, _CANCEL, session_id, now, reason, note)


async def end(conn: Connection, session_id: uuid.UUID, now: dt.datetime, *, ended_by: str,
              reason: str | None, note: str | None) -> dict[str, Any] | None:
    """ONGOING → ENDED (billing is written next, in the same transaction: `record_billing`)."""
    return await _transition(conn, _END, session_id, now, ended_by, reason, note)


async def record_billing(conn: Connection, session_id: uuid.UUID, *, duration_seconds: float,
                         minutes: int, amount: int) -> dict[str, Any]:
    row = await driver.fetchrow(conn, _BILLED, session_id, duration_seconds, minutes, amount, begin=True)
    assert row is not None  # the caller holds the row (it just ended it)
    return dict(row)


# REQUESTED → EXPIRED for up to $2 requests past their expiry, skipping rows locked elsewhere. The
# status in the SQL text (a generic plan can then use the partial expiry index, which a bound
# `status = $1` does not prove) and id = ANY(ARRAY(...)): key lookups in every plan.
EXPIRE_DUE = f"""
UPDATE connect_sessions SET status = '{EXPIRED}', updated_at = $1
WHERE id = ANY(ARRAY(
        SELECT id FROM connect_sessions WHERE status = '{REQUESTED}' AND expires_at <= $1
        ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))
  AND status = '{REQUESTED}'
{_RETURNING}"""


async def expire_due(conn: Connection, now: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """Expire up to `limit` lapsed requests; rows another process holds are skipped, not waited for."""
    return [dict(r) for r in await driver.fetch(conn, EXPIRE_DUE, now, limit, begin=True)]
