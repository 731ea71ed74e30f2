"""Follow-up use cases: the doctor schedules, the two parties read, respond, answer a proposal,
cancel; the reminder job's pass.

Every transition reads the follow-up (its parties only: anyone else gets 404), asks the pure table
(domain.followups) for the next state, and writes it with one UPDATE conditional on the version it
read: of two racing actions one wins, the other gets 409. The push to the other party is written in
the same transaction (storage.events).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from domain import followups as rules
from domain.followups import Action, Schedule
from domain.push_payloads import PushPayload
from domain.roles import Role
from services.context import Caller, Context, reading, transaction
from storage import events, followups
from storage.session_access import session_for_participant

Row = dict[str, Any]
REMINDER_BATCH = 100


def _remind_before(ctx: Context) -> dt.timedelta:
    return dt.timedelta(seconds=ctx.settings.followup_reminder_before)


async def _push(conn: Any, role: Role, recipient_id: uuid.UUID, payload: PushPayload) -> None:
    await events.push_after_commit(conn, recipient_role=role, recipient_id=recipient_id, **payload.outbox_fields())


async def create(ctx: Context, doctor: Caller, session_id: uuid.UUID, schedule: Schedule) -> Row:
    """A PENDING_PATIENT follow-up of the doctor's ONGOING or ENDED session, not in the past in its
    zone (422); one open follow-up per session (409 FOLLOWUP_EXISTS). Pushes `followup.scheduled`."""
    now = ctx.now()
    rules.check_not_past(schedule, now, date_field="scheduled_date", time_field="scheduled_time")
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, doctor.role, doctor.id)
        rules.check_schedulable(session["status"])
        row = await followups.insert(conn, session, schedule, schedule.remind_at(_remind_before(ctx)), now)
        if row is None:
            raise rules.already_open()
        await _push(conn, Role.CLIENT, row["patient_id"], rules.scheduled_push(row, row["doctor_name"]))
    return row


async def get(ctx: Context, caller: Caller, followup_id: uuid.UUID) -> Row:
    async with reading(ctx) as conn:
        row = await followups.get_for_participant(conn, followup_id, caller.role, caller.id)
    if row is None:
        raise rules.not_found()
    return row


async def of_session(ctx: Context, caller: Caller, session_id: uuid.UUID) -> Row:
    """The session's open follow-up, else its latest (participants of the session only)."""
    async with reading(ctx) as conn:
        session = await session_for_participant(conn, session_id, caller.role, caller.id)
        row = await followups.of_session(conn, session["id"])
    if row is None:
        raise rules.not_found()
    return row


async def page(ctx: Context, caller: Caller, *, status: str | None, upcoming: bool, past: bool, limit: int,
               offset: int) -> tuple[list[Row], int]:
    async with reading(ctx) as conn:
        return await followups.page(conn, str(caller.role), caller.id, status=status, upcoming=upcoming, past=past,
                                    now=ctx.now(), limit=limit, offset=offset)


async def transition(ctx: Context, caller: Caller, followup_id: uuid.UUID, action: Action, *,
                     proposal: tuple[dt.date, dt.time | None] | None = None, reason: str | None = None) -> Row:
    """Apply `action` by the caller (one of the two parties) and push the other party."""
    now = ctx.now()
    async with transaction(ctx) as conn:
        row = await followups.get_for_participant(conn, followup_id, caller.role, caller.id)
        if row is None:
            raise rules.not_found()
        change = rules.change(row, action, caller.role, now, _remind_before(ctx), proposal=proposal, reason=reason)
        updated = await followups.apply(conn, row, change, now)
        if updated is None:
            raise rules.changed_meanwhile()
        role, recipient_id = rules.recipient(caller.role, updated)
        await _push(conn, role, recipient_id, rules.transition_push(updated, action, updated["doctor_name"]))
    return updated


async def send_due_reminders(ctx: Context, limit: int = REMINDER_BATCH) -> tuple[int, int]:
    """One batch of the reminder job: claim due accepted follow-ups not reminded yet and push
    `followup.reminder` to their patients, claim and pushes in one transaction (a process that dies
    before the commit leaves them to the next pass, anywhere). A follow-up already past when claimed
    (every process was down all through its reminder window) is marked, not pushed.
    Returns (claimed, pushed)."""
    now = ctx.now()
    pushed = 0
    async with transaction(ctx) as conn:
        rows = await followups.claim_due_reminders(conn, now, limit)
        for row in rows:
            if row["past_at"] > now:
                await _push(conn, Role.CLIENT, row["patient_id"], rules.reminder_push(row, row["doctor_name"]))
                pushed += 1
    return len(rows), pushed
