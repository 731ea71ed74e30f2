"""Connect session lifecycle in the database: every transition is a conditional UPDATE on the
expected status (so concurrent callers cannot both win), written together with its outbox events
and pushes in the caller's transaction. The rules themselves live in domain.sessions / billing.

The new-request path (the hottest write) is two statements on the driver (storage.driver): one read
of everything it checks, one atomic INSERT of the session with its event and push.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import billing, push_payloads
from domain import sessions as rules
from domain.errors import Conflict
from common.jsonutil import isoformat
from storage import driver, events, wallet
from storage.session_requests import PATIENT_COLUMNS, request_item
from storage.tables import connect_sessions, doctors, users, wallets

S = connect_sessions


# --- reads --------------------------------------------------------------------------------

async def patient(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, Any]:
    row = (await conn.execute(sa.select(*[users.c[c] for c in PATIENT_COLUMNS])
                              .where(users.c.id == user_id))).mappings().one()
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
    " LEFT JOIN connect_sessions a ON a.patient_id = u.id AND a.status IN ("
    + ", ".join(f"'{status}'" for status in rules.ACTIVE) + ")"  # constants: the partial unique index applies
    " LEFT JOIN wallets w ON w.user_id = u.id"
    " WHERE u.id = $1"
)


async def request_context(conn: AsyncConnection, patient_id: uuid.UUID, doctor_id: uuid.UUID) -> RequestContext:
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


async def _doctor_name(conn: AsyncConnection, doctor_id: uuid.UUID) -> str | None:
    return await conn.scalar(sa.select(doctors.c.full_name).where(doctors.c.id == doctor_id))


# --- request ------------------------------------------------------------------------------

_SESSION_FIELDS = ", ".join(c.name for c in S.c)
# One statement: the session, its announcement and its push exist together or not at all (the
# partial unique index turns a second active request into no row). Commits on its own.
_INSERT_REQUEST = f"""
WITH s AS (
    INSERT INTO connect_sessions (id, patient_id, doctor_id, status, category, symptoms, active_treatment,
                                  medical_history, rate_per_minute, room_name, requested_at, expires_at,
                                  created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8, $9, $10, $11, $12, $11, $11)
    ON CONFLICT (patient_id) WHERE status IN ('REQUESTED', 'ONGOING') DO NOTHING
    RETURNING {_SESSION_FIELDS}
), event AS ({events.event_insert_from("s", 13)}
), push AS ({events.push_insert_from("s", 16)}
)
SELECT * FROM s"""


async def insert_request(conn: AsyncConnection, *, patient: dict[str, Any], doctor: dict[str, Any],
                         details: dict[str, Any], now: dt.datetime, ttl_seconds: int) -> dict[str, Any]:
    """A new REQUESTED session at the doctor's rate, announced to the doctor (one statement).

    The partial unique index (one REQUESTED/ONGOING session per patient) settles races:
    the loser of two concurrent requests gets SESSION_ALREADY_ACTIVE.
    """
    session = {
        "id": uuid.uuid4(), "status": rules.REQUESTED, "category": details.get("category"),
        "symptoms": details.get("symptoms") or [], "requested_at": now,
        "expires_at": now + dt.timedelta(seconds=ttl_seconds),
    }
    item = request_item(session, patient)
    push = push_payloads.session_requested(session["id"], item["patient"]["name"])
    row = await driver.fetchrow(
        conn, _INSERT_REQUEST,
        session["id"], patient["id"], doctor["id"], session["status"], session["category"], session["symptoms"],
        details.get("active_treatment"), details.get("medical_history"), doctor["rate_per_minute"],
        rules.room_name(session["id"]), now, session["expires_at"],
        *events.event_args(events.doctor_requests_channel(doctor["id"]), "session_requested", item),
        *events.push_args("doctor", doctor["id"], **push.outbox_fields()))
    if row is None:
        rules.check_no_active_session(rules.REQUESTED)
    events.mark_pending(conn, events=True, pushes=True)
    return dict(row)


# --- transitions --------------------------------------------------------------------------

async def _transition(conn: AsyncConnection, session_id: uuid.UUID, expected: str,
                      extra_where: Any = None, **values: Any) -> dict[str, Any] | None:
    """UPDATE ... WHERE status = expected RETURNING: None when someone else moved it first."""
    query = sa.update(S).where(S.c.id == session_id, S.c.status == expected)
    if extra_where is not None:
        query = query.where(extra_where)
    row = (await conn.execute(query.values(**values).returning(S))).mappings().first()
    return dict(row) if row else None


async def _push(conn: AsyncConnection, role: str, recipient_id: uuid.UUID,
                payload: push_payloads.PushPayload) -> None:
    await events.push_after_commit(conn, recipient_role=role, recipient_id=recipient_id,
                                   **payload.outbox_fields())


async def _announce_removed(conn: AsyncConnection, session: dict[str, Any]) -> None:
    await events.publish_after_commit(
        conn, events.doctor_requests_channel(session["doctor_id"]), "session_request_removed",
        {"session_id": str(session["id"]), "status": session["status"]})


async def expire(conn: AsyncConnection, session_id: uuid.UUID, now: dt.datetime) -> dict[str, Any] | None:
    """REQUESTED → EXPIRED if past its expiry (the request handlers' path; the sweeper batches)."""
    row = await _transition(conn, session_id, rules.REQUESTED, S.c.expires_at <= now,
                            status=rules.EXPIRED, updated_at=now)
    if row:
        await _after_expired(conn, row)
    return row


async def _after_expired(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await _announce_removed(conn, row)
    await _push(conn, "client", row["patient_id"], push_payloads.session_expired(row["id"]))


def expiry_statement(now: dt.datetime, limit: int):
    """REQUESTED → EXPIRED for up to `limit` requests past their expiry, skipping rows locked elsewhere."""
    # The status in the SQL text (a generic plan can then use the partial expiry index, which a
    # bound `status = $1` does not prove) and id = ANY(ARRAY(...)): key lookups in every plan.
    requested = sa.literal_column(f"'{rules.REQUESTED}'")
    due = (sa.select(S.c.id).where(S.c.status == requested, S.c.expires_at <= now)
           .order_by(S.c.expires_at).limit(limit).with_for_update(skip_locked=True))
    return (sa.update(S).where(S.c.id == sa.any_(sa.func.array(due.scalar_subquery())), S.c.status == requested)
            .values(status=rules.EXPIRED, updated_at=now).returning(S))


async def expire_due(conn: AsyncConnection, now: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """Expire up to `limit` lapsed requests; rows another process holds are skipped, not waited for."""
    rows = (await conn.execute(expiry_statement(now, limit))).mappings().all()
    for row in rows:
        await _after_expired(conn, dict(row))
    return [dict(r) for r in rows]


async def accept(conn: AsyncConnection, session_id: uuid.UUID, now: dt.datetime) -> dict[str, Any] | None:
    row = await _transition(conn, session_id, rules.REQUESTED, S.c.expires_at > now,
                            status=rules.ONGOING, started_at=now, updated_at=now)
    if row is None:
        return None
    # ONLINE → BUSY only: the server never overrides a doctor who chose OFFLINE.
    await conn.execute(sa.update(doctors).where(doctors.c.id == row["doctor_id"],
                                                doctors.c.presence_status == "ONLINE")
                       .values(presence_status="BUSY", updated_at=now))
    await _announce_removed(conn, row)
    name = await _doctor_name(conn, row["doctor_id"])
    await _push(conn, "client", row["patient_id"], push_payloads.session_accepted(session_id, name))
    return row


async def reject(conn: AsyncConnection, session_id: uuid.UUID, now: dt.datetime) -> dict[str, Any] | None:
    row = await _transition(conn, session_id, rules.REQUESTED, status=rules.REJECTED,
                            ended_at=now, ended_by="doctor", updated_at=now)
    if row is None:
        return None
    await _announce_removed(conn, row)
    name = await _doctor_name(conn, row["doctor_id"])
    await _push(conn, "client", row["patient_id"], push_payloads.session_rejected(session_id, name))
    return row


async def cancel(conn: AsyncConnection, session_id: uuid.UUID, now: dt.datetime, *,
                 reason: str | None, note: str | None) -> dict[str, Any] | None:
    """The patient withdraws a REQUESTED session."""
    row = await _transition(conn, session_id, rules.REQUESTED, status=rules.CANCELLED, ended_at=now,
                            ended_by="patient", end_reason=reason, end_note=note, updated_at=now)
    if row:
        await _announce_removed(conn, row)
    return row


async def end_ongoing(conn: AsyncConnection, session_id: uuid.UUID, now: dt.datetime, *, ended_by: str,
                      reason: str | None, note: str | None) -> dict[str, Any] | None:
    """ONGOING → ENDED, billed in this same transaction; None if it was not ONGOING any more.

    Lock order: session row (the UPDATE), then the patient's wallet, then the doctor row.
    """
    row = await _transition(conn, session_id, rules.ONGOING, status=rules.ENDED, ended_at=now,
                            ended_by=ended_by, end_reason=reason, end_note=note, updated_at=now)
    if row is None:
        return None
    charge = await _settle(conn, row, now)
    row = (await conn.execute(
        sa.update(S).where(S.c.id == session_id)
        .values(duration_seconds=charge.duration_seconds, billed_minutes=charge.minutes,
                billed_amount=charge.charged).returning(S)
    )).mappings().one()
    row = dict(row)
    await events.publish_after_commit(conn, events.session_channel(session_id), "session.ended", {
        "session_id": str(session_id), "ended_by": ended_by, "reason": reason,
        "ended_at": isoformat(now), "duration_seconds": charge.duration_seconds,
        "billed_amount": charge.charged,
    })
    recipients = {"patient": [("doctor", row["doctor_id"])], "doctor": [("client", row["patient_id"])]}
    for role, recipient in recipients.get(ended_by, [("client", row["patient_id"]),
                                                     ("doctor", row["doctor_id"])]):
        await _push(conn, role, recipient, push_payloads.session_ended(
            session_id, recipient_role=role, minutes=charge.minutes, charged_paise=charge.charged,
            reason=reason))
    return row


async def _settle(conn: AsyncConnection, session: dict[str, Any], ended_at: dt.datetime) -> billing.SessionCharge:
    """Debit the patient (capped at the balance), credit the doctor, free the doctor if idle."""
    balance = await wallet.lock_balance(conn, session["patient_id"])
    charge = billing.session_charge(session["started_at"], ended_at, session["rate_per_minute"], balance)
    # FOR NO KEY UPDATE: serialises presence changes without blocking new requests' FK checks.
    doctor = (await conn.execute(
        sa.select(doctors.c.full_name, doctors.c.presence_status)
        .where(doctors.c.id == session["doctor_id"]).with_for_update(key_share=True)
    )).mappings().one()
    if charge.charged:
        description = f"Consultation with {doctor['full_name']} ({charge.minutes} min)"
        if charge.shortfall:
            description += f"; {charge.shortfall} paise unpaid (balance exhausted)"
        ledger = await wallet.apply_change(
            conn, session["patient_id"], -charge.charged, "session", description=description,
            reference_type="connect_session", reference_id=str(session["id"]), at=ended_at)
        if ledger is None:  # the state guard makes this unreachable; the unique index makes sure
            raise Conflict("Session already billed", code="SESSION_ALREADY_ENDED")
    still_ongoing = await conn.scalar(sa.select(sa.func.count()).select_from(S).where(
        S.c.doctor_id == session["doctor_id"], S.c.status == rules.ONGOING))
    presence = "ONLINE" if doctor["presence_status"] == "BUSY" and not still_ongoing else doctor["presence_status"]
    await conn.execute(sa.update(doctors).where(doctors.c.id == session["doctor_id"]).values(
        earnings_paise=doctors.c.earnings_paise + charge.charged,
        total_sessions=doctors.c.total_sessions + 1,
        presence_status=presence, updated_at=ended_at))
    return charge


# --- balance watcher ----------------------------------------------------------------------

async def ongoing_with_balances(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every ONGOING session with its patient's current balance (unlocked snapshot)."""
    rows = (await conn.execute(
        sa.select(S.c.id, S.c.started_at, S.c.rate_per_minute,
                  sa.func.coalesce(wallets.c.balance, 0).label("balance"))
        .select_from(S.outerjoin(wallets, wallets.c.user_id == S.c.patient_id))
        .where(S.c.status == rules.ONGOING)
    )).mappings().all()
    return [dict(r) for r in rows]


async def lock_ongoing(conn: AsyncConnection, session_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(S).where(S.c.id == session_id, S.c.status == rules.ONGOING)
                              .with_for_update())).mappings().first()
    return dict(row) if row else None
