"""Connect Now session use cases: request, accept, reject, end (or cancel), expire, and the server's
end of a session whose wallet ran out. Each owns its transaction; the rules come from
domain.sessions / domain.billing / domain.doctors, the rows from storage.

Every transition locks the session row (or is a conditional UPDATE on its status), so concurrent
callers cannot both win; its events and pushes are written in the same transaction.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Awaitable, Callable

from storage.pool import Connection

from common.jsonutil import isoformat
from domain import billing, push_payloads
from domain import doctors as doctor_rules
from domain import sessions as rules
from domain.errors import Conflict, NotFound
from domain.roles import Role
from services.context import Caller, Context, statements, transaction
from storage import doctors as doctor_store
from storage import events, wallet
from storage import sessions as store
from storage.session_access import session_for_participant
from storage.session_requests import request_item

Row = dict[str, Any]




def _expired() -> Conflict:
    return Conflict("The session request has expired", code="SESSION_EXPIRED")


# --- request ------------------------------------------------------------------------------

async def request(ctx: Context, patient_id: uuid.UUID, details: dict[str, Any]) -> Row:
    """A new REQUESTED session with the doctor at their own rate, announced on the doctor's stream
    and pushed. Two statements, no transaction unless a lapsed request must be expired first."""
    settings, now = ctx.settings, ctx.now()
    async with statements(ctx) as conn:
        context = await store.request_context(conn, patient_id, details["target_doctor_id"])
        doctor = context.doctor
        if doctor is None:
            raise NotFound("Doctor not found", code="DOCTOR_NOT_FOUND")
        rules.check_profile_complete(context.patient)
        rules.check_doctor_available(doctor)
        active = context.active
        if active and not await _expire_if_lapsed(conn, active, now):
            rules.check_no_active_session(active["status"])
        billing.check_can_prepay(context.balance, doctor["rate_per_minute"], settings.session_min_prepaid_minutes)
        session_id = uuid.uuid4()
        session = {
            "id": session_id, "patient_id": patient_id, "doctor_id": doctor["id"], "status": rules.REQUESTED,
            "category": details.get("category"), "symptoms": details.get("symptoms") or [],
            "active_treatment": details.get("active_treatment"), "medical_history": details.get("medical_history"),
            "rate_per_minute": doctor["rate_per_minute"], "room_name": rules.room_name(session_id),
            "requested_at": now, "expires_at": now + dt.timedelta(seconds=settings.session_request_ttl),
        }
        item = request_item(session, context.patient)
        push = push_payloads.session_requested(session_id, item["patient"]["name"])
        row = await store.insert_request(
            conn, session,
            event=events.event_args(events.doctor_requests_channel(doctor["id"]), "session_requested", item),
            push=events.push_args(Role.DOCTOR, doctor["id"], **push.outbox_fields()))
        if row is None:  # a concurrent request won the partial unique index
            rules.check_no_active_session(rules.REQUESTED)
        assert row is not None
    return row


# --- the doctor answers -------------------------------------------------------------------

async def accept(ctx: Context, doctor: Caller, session_id: uuid.UUID) -> Row:
    """REQUESTED → ONGOING; the doctor goes BUSY (from ONLINE); the request leaves every console."""
    return await _answer(ctx, doctor, session_id, store.accept, push_payloads.session_accepted, busy=True)


async def reject(ctx: Context, doctor: Caller, session_id: uuid.UUID) -> Row:
    """REQUESTED → REJECTED; the request leaves every console."""
    return await _answer(ctx, doctor, session_id, store.reject, push_payloads.session_rejected, busy=False)


async def _answer(ctx: Context, doctor: Caller, session_id: uuid.UUID,
                  transition: Callable[[Connection, uuid.UUID, dt.datetime], Awaitable[Row | None]],
                  push: Callable[[uuid.UUID, str | None], push_payloads.PushPayload], *, busy: bool) -> Row:
    """The doctor answers a live request under its row lock; a lapsed one is expired instead (409)."""
    now, row = ctx.now(), None
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, doctor.role, doctor.id, lock=True)
        expired = await _expire_if_lapsed(conn, session, now)
        if not expired:
            rules.check_answerable(session["status"])
            row = await transition(conn, session_id, now)
            assert row is not None  # locked and checked above
            if busy:
                await doctor_store.mark_busy(conn, row["doctor_id"], now)
            await _announce_removed(conn, row)
            name = await doctor_store.doctor_name(conn, row["doctor_id"])
            await _push(conn, Role.CLIENT, row["patient_id"], push(session_id, name))
    if expired:
        raise _expired()
    assert row is not None
    return row


# --- end ----------------------------------------------------------------------------------

async def end(ctx: Context, caller: Caller, session_id: uuid.UUID, *, reason: str | None,
              note: str | None) -> Row:
    """Either participant: ONGOING → ENDED, billed in the same transaction; the patient ending a
    REQUESTED session cancels it."""
    now, row = ctx.now(), None
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, caller.role, caller.id, lock=True)
        expired = await _expire_if_lapsed(conn, session, now)
        if not expired:
            if rules.end_outcome(caller.role, session["status"]) == rules.CANCEL:
                row = await store.cancel(conn, session_id, now, reason=reason, note=note)
                assert row is not None
                await _announce_removed(conn, row)
            else:
                row = await _end_ongoing(conn, session_id, now, ended_by=rules.PARTY_BY_ROLE[caller.role],
                                         reason=reason, note=note)
    if expired:
        raise _expired()
    assert row is not None
    return row


async def end_if_exhausted(ctx: Context, session_id: uuid.UUID) -> bool:
    """The server ends an ONGOING session whose wallet cannot pay what it has run up (reason
    `balance_exhausted`), deciding on the locked balance. False if it was not (or no longer) due."""
    now = ctx.now()
    async with transaction(ctx) as conn:
        session = await store.lock_ongoing(conn, session_id)
        if session is None:  # ended meanwhile
            return False
        # A recharge may have landed since the caller's snapshot: decide on the locked balance.
        balance = await wallet.lock_balance(conn, session["patient_id"])
        if not billing.balance_exhausted(session["started_at"], now, session["rate_per_minute"], balance):
            return False
        await _end_ongoing(conn, session_id, now, ended_by=rules.SYSTEM, reason=rules.BALANCE_EXHAUSTED, note=None)
    return True


async def _end_ongoing(conn: Connection, session_id: uuid.UUID, now: dt.datetime, *, ended_by: str,
                       reason: str | None, note: str | None) -> Row:
    """ONGOING → ENDED with its bill, the doctor's earnings and presence, the websocket event and the
    pushes. Lock order: session row, the patient's wallet, the doctor row."""
    row = await store.end(conn, session_id, now, ended_by=ended_by, reason=reason, note=note)
    if row is None:  # the caller checked ONGOING under the row lock
        raise Conflict("Session already ended", code="SESSION_ALREADY_ENDED")
    charge = await _settle(conn, row, now)
    row = await store.record_billing(conn, session_id, duration_seconds=charge.duration_seconds,
                                     minutes=charge.minutes, amount=charge.charged)
    await events.publish_after_commit(conn, events.session_channel(session_id), "session.ended", {
        "session_id": str(session_id), "ended_by": ended_by, "reason": reason,
        "ended_at": isoformat(now), "duration_seconds": charge.duration_seconds,
        "billed_amount": charge.charged,
    })
    recipients = {Role.CLIENT: row["patient_id"], Role.DOCTOR: row["doctor_id"]}
    for role in rules.notified_of_end(ended_by):
        await _push(conn, role, recipients[role], push_payloads.session_ended(
            session_id, recipient_role=role, minutes=charge.minutes, charged_paise=charge.charged,
            reason=reason))
    return row


async def _settle(conn: Connection, session: Row, ended_at: dt.datetime) -> billing.SessionCharge:
    """Debit the patient (capped at the balance), credit the doctor, free the doctor if idle."""
    balance = await wallet.lock_balance(conn, session["patient_id"])
    charge = billing.session_charge(session["started_at"], ended_at, session["rate_per_minute"], balance)
    doctor = await doctor_store.lock_for_settlement(conn, session["doctor_id"])
    if charge.charged:
        ledger = await wallet.apply_change(
            conn, session["patient_id"], -charge.charged, "session",
            description=billing.session_description(doctor["full_name"], charge),
            reference_type="connect_session", reference_id=str(session["id"]), at=ended_at)
        if ledger is None:  # the state guard makes this unreachable; the unique index makes sure
            raise Conflict("Session already billed", code="SESSION_ALREADY_ENDED")
    still_ongoing = await store.doctor_ongoing_count(conn, session["doctor_id"]) > 0
    presence = doctor_rules.presence_on_end(doctor["presence_status"], still_ongoing=still_ongoing)
    await doctor_store.record_session(conn, session["doctor_id"], earned=charge.charged, presence=presence,
                                      now=ended_at)
    return charge


# --- expiry -------------------------------------------------------------------------------

async def expire_due(ctx: Context, limit: int) -> int:
    """Expire up to `limit` lapsed requests (rows another process holds are skipped); how many."""
    async with transaction(ctx) as conn:
        rows = await store.expire_due(conn, ctx.now(), limit)
        for row in rows:
            await _after_expired(conn, row)
    return len(rows)


async def _expire_if_lapsed(conn: Connection, session: Row, now: dt.datetime) -> bool:
    """Write EXPIRED for a request past its expiry that the sweeper has not reached yet."""
    if rules.lapsed(session["status"], session["expires_at"], now):
        row = await store.expire(conn, session["id"], now)
        if row is not None:
            await _after_expired(conn, row)
        return True
    return False


async def _after_expired(conn: Connection, row: Row) -> None:
    await _announce_removed(conn, row)
    await _push(conn, Role.CLIENT, row["patient_id"], push_payloads.session_expired(row["id"]))


# --- what the others are told -------------------------------------------------------------

async def _announce_removed(conn: Connection, session: Row) -> None:
    await events.publish_after_commit(
        conn, events.doctor_requests_channel(session["doctor_id"]), "session_request_removed",
        {"session_id": str(session["id"]), "status": session["status"]})


async def _push(conn: Connection, role: Role, recipient_id: uuid.UUID,
                payload: push_payloads.PushPayload) -> None:
    await events.push_after_commit(conn, recipient_role=role, recipient_id=recipient_id,
                                   **payload.outbox_fields())
