"""Review rules (pure): who may review and when, the rating scale, replies, reminders, the pushes.

A patient reviews a session of theirs once it has ENDED, once. Ratings go from 1.0 to 5.0 in steps of
0.5; a half-star counts in the star below it (4.5 is a 4-star review in filters and distributions).
A doctor replies to their own reviews (one reply, editable, removable) and may remind the patient of
an ended session without a review at most once per 24 hours.
"""
from __future__ import annotations

import datetime as dt
import math
import uuid
from enum import StrEnum

from domain.errors import Conflict, NotFound, TooManyRequests
from domain.push_payloads import PushPayload
from domain.sessions import ENDED

RATING_MIN, RATING_MAX, RATING_STEP = 1.0, 5.0, 0.5
STARS = (1, 2, 3, 4, 5)
REPLY_MAX = 1000
COMMENT_MAX = 2000
REMINDER_INTERVAL = dt.timedelta(hours=24)
REMINDER_EVENT = "review.reminder"


class ReviewSort(StrEnum):
    DATE_DESC = "date_desc"
    DATE_ASC = "date_asc"
    RATING_DESC = "rating_desc"
    RATING_ASC = "rating_asc"


def is_valid_rating(value: float) -> bool:
    return RATING_MIN <= value <= RATING_MAX and (value / RATING_STEP).is_integer()


def star(rating: float) -> int:
    """The whole star a rating counts in: 4.5 → 4."""
    return int(math.floor(rating))


def check_reviewable(session_status: str) -> None:
    if session_status != ENDED:
        raise Conflict(f"Only an ended session can be reviewed (this one is {session_status})",
                       code="SESSION_NOT_ENDED")


def review_exists() -> Conflict:
    return Conflict("This session has already been reviewed", code="REVIEW_EXISTS")


def review_not_found() -> NotFound:
    return NotFound("Review not found", code="REVIEW_NOT_FOUND")


def reply_exists() -> Conflict:
    return Conflict("This review already has a reply; use PUT to change it", code="REPLY_EXISTS")


def reply_not_found() -> NotFound:
    return NotFound("This review has no reply", code="REPLY_NOT_FOUND")


def check_remindable(session_status: str, reviewed: bool) -> None:
    """A review reminder: only for an ENDED session the patient has not reviewed."""
    check_reviewable(session_status)
    if reviewed:
        raise review_exists()


def reminder_too_soon(last_sent_at: dt.datetime, now: dt.datetime) -> TooManyRequests:
    wait = math.ceil((last_sent_at + REMINDER_INTERVAL - now).total_seconds())
    return TooManyRequests("A review reminder was sent for this session in the last 24 hours",
                           retry_after=max(1, wait), code="REVIEW_REMINDER_RATE_LIMITED")


# --- pushes -------------------------------------------------------------------------------

def _rating_text(rating: float) -> str:
    return f"{rating:g}★"


def submitted_push(review_id: uuid.UUID, session_id: uuid.UUID, rating: float) -> PushPayload:
    """To the doctor. The comment stays out of the push (lock screens, push infrastructure)."""
    return PushPayload("review.submitted", "New review", f"A patient rated your consultation {_rating_text(rating)}",
                       {"type": "review.submitted", "review_id": str(review_id), "session_id": str(session_id),
                        "rating": str(rating)})


def reply_push(review_id: uuid.UUID, session_id: uuid.UUID, doctor_name: str | None) -> PushPayload:
    """To the patient."""
    doctor = (doctor_name or "").strip() or "Your doctor"
    return PushPayload("review.reply", "Your doctor replied", f"{doctor} replied to your review",
                       {"type": "review.reply", "review_id": str(review_id), "session_id": str(session_id)})


def reminder_push(session_id: uuid.UUID, doctor_name: str | None) -> PushPayload:
    """To the patient of an ended session without a review."""
    doctor = (doctor_name or "").strip() or "your doctor"
    return PushPayload(REMINDER_EVENT, "How was your consultation?",
                       f"Tell others about your consultation with {doctor}: leave a review",
                       {"type": REMINDER_EVENT, "session_id": str(session_id)})
