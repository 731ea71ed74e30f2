"""Review use cases: the patient's review of an ended session (with the doctor's rating in the same
transaction), the doctor's dashboard list, the reply, and the review reminder.

Pushes go through the outbox in the transaction of the change they announce (storage.events).
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from domain import reviews as rules
from domain.push_payloads import PushPayload
from domain.reviews import ReviewSort
from domain.roles import Role
from services.context import Caller, Context, reading, transaction
from storage import events, reviews
from storage.session_access import session_for_participant, session_not_found

Row = dict[str, Any]


async def _push(conn: Any, role: Role, recipient_id: uuid.UUID, payload: PushPayload) -> None:
    await events.push_after_commit(conn, recipient_role=role, recipient_id=recipient_id, **payload.outbox_fields())


async def submit(ctx: Context, patient: Caller, session_id: uuid.UUID, rating: float, comment: str | None) -> Row:
    """The patient's one review of their ENDED session (409 REVIEW_EXISTS again; 409 before it
    ended); the doctor's rating and review count follow in the same transaction; push to the doctor."""
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, patient.role, patient.id)
        rules.check_reviewable(session["status"])
        # The doctor's row first: the aggregate below then counts every review committed before.
        await reviews.lock_doctor(conn, session["doctor_id"])
        row = await reviews.insert(conn, session, rating, comment, ctx.now())
        if row is None:
            raise rules.review_exists()
        await reviews.refresh_doctor_rating(conn, session["doctor_id"])
        await _push(conn, Role.DOCTOR, session["doctor_id"], rules.submitted_push(row["id"], session["id"], rating))
    return row


async def doctor_page(ctx: Context, doctor_id: uuid.UUID, *, star: int | None, has_reply: bool | None,
                      start: dt.datetime | None, end: dt.datetime | None, sort: ReviewSort, limit: int,
                      offset: int) -> tuple[list[Row], int]:
    async with reading(ctx) as conn:
        return await reviews.my_reviews_page(conn, doctor_id, star=star, has_reply=has_reply, start=start, end=end,
                                             sort=sort, limit=limit, offset=offset)


async def _push_reply(conn: Any, doctor_id: uuid.UUID, row: Row) -> None:
    name = await reviews.doctor_name(conn, doctor_id)
    await _push(conn, Role.CLIENT, row["patient_id"], rules.reply_push(row["id"], row["connect_session_id"], name))


async def create_reply(ctx: Context, doctor_id: uuid.UUID, review_id: uuid.UUID, text: str) -> Row:
    """The doctor's reply to their own review (another doctor's: 404; a second reply: 409)."""
    async with transaction(ctx) as conn:
        row = await reviews.create_reply(conn, review_id, doctor_id, text, ctx.now())
        if row is None:
            if await reviews.get_own(conn, review_id, doctor_id) is None:
                raise rules.review_not_found()
            raise rules.reply_exists()
        await _push_reply(conn, doctor_id, row)
    return row


async def update_reply(ctx: Context, doctor_id: uuid.UUID, review_id: uuid.UUID, text: str) -> Row:
    """A new text for the doctor's reply (no reply yet: 404 REPLY_NOT_FOUND); the patient is told."""
    async with transaction(ctx) as conn:
        row = await reviews.update_reply(conn, review_id, doctor_id, text, ctx.now())
        if row is None:
            if await reviews.get_own(conn, review_id, doctor_id) is None:
                raise rules.review_not_found()
            raise rules.reply_not_found()
        await _push_reply(conn, doctor_id, row)
    return row


async def delete_reply(ctx: Context, doctor_id: uuid.UUID, review_id: uuid.UUID) -> None:
    async with transaction(ctx) as conn:
        if await reviews.delete_reply(conn, review_id, doctor_id) is None:
            if await reviews.get_own(conn, review_id, doctor_id) is None:
                raise rules.review_not_found()
            raise rules.reply_not_found()


@dataclass(frozen=True, slots=True)
class NotificationResult:
    sent: bool
    devices: int
    event: str = rules.REMINDER_EVENT


async def remind(ctx: Context, doctor_id: uuid.UUID, session_id: uuid.UUID) -> NotificationResult:
    """Push `review.reminder` to the patient of the doctor's ENDED, unreviewed session (409
    otherwise), at most once per session per 24 hours (429 with Retry-After). A patient with no
    active device gets nothing, and nothing is counted against the limit."""
    now = ctx.now()
    async with transaction(ctx) as conn:
        session = await reviews.reminder_session(conn, session_id, doctor_id)
        if session is None:
            raise session_not_found()
        rules.check_remindable(session["status"], session["reviewed"])
        if not session["devices"]:
            return NotificationResult(sent=False, devices=0)
        if await reviews.claim_reminder(conn, session_id, now) is None:
            last = await reviews.last_reminder(conn, session_id)
            raise rules.reminder_too_soon(last or now, now)
        await _push(conn, Role.CLIENT, session["patient_id"], rules.reminder_push(session_id, session["doctor_name"]))
    return NotificationResult(sent=True, devices=session["devices"])
