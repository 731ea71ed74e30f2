"""Connect session rules: the state machine, who may do what, and the 409 codes. Pure functions.

States: REQUESTED → ONGOING | REJECTED | EXPIRED | CANCELLED; ONGOING → ENDED.
A REQUESTED session whose `expires_at` has passed counts as EXPIRED everywhere, even before the
sweeper has written it (`effective_status`).
"""
from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any, Mapping

from domain.errors import Conflict
from domain.roles import Role


class SessionStatus(StrEnum):
    REQUESTED = "REQUESTED"
    ONGOING = "ONGOING"
    ENDED = "ENDED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


REQUESTED, ONGOING, ENDED = SessionStatus.REQUESTED, SessionStatus.ONGOING, SessionStatus.ENDED
REJECTED, EXPIRED, CANCELLED = SessionStatus.REJECTED, SessionStatus.EXPIRED, SessionStatus.CANCELLED
ACTIVE = (REQUESTED, ONGOING)
TERMINAL = frozenset((ENDED, REJECTED, EXPIRED, CANCELLED))


def sql_list(statuses: tuple[SessionStatus, ...] | frozenset[SessionStatus]) -> str:
    """`'A', 'B'` for SQL text: statuses written into a statement (not bound) let a generic plan
    use the partial indexes defined on them."""
    return ", ".join(f"'{status.value}'" for status in sorted(statuses))


# Who ended a session, as stored in `ended_by` and sent in `session.ended`.
PARTY_BY_ROLE: dict[str, str] = {Role.CLIENT: "patient", Role.DOCTOR: "doctor"}
SYSTEM = "system"
BALANCE_EXHAUSTED = "balance_exhausted"

# One precise code per state a request can no longer leave.
_TERMINAL_CODES: dict[str, str] = {
    ENDED: "SESSION_ALREADY_ENDED",
    REJECTED: "SESSION_REJECTED",
    EXPIRED: "SESSION_EXPIRED",
    CANCELLED: "SESSION_CANCELLED",
}

# Outcomes of POST /end.
END = "END"        # ONGOING → ENDED (billed)
CANCEL = "CANCEL"  # REQUESTED → CANCELLED (patient only)


def room_name(session_id: uuid.UUID | str) -> str:
    return f"cn-{session_id}"


def identity(role: str, subject_id: uuid.UUID | str) -> str:
    """LiveKit participant identity: `patient-{user_id}` or `doctor-{doctor_id}`."""
    return f"{PARTY_BY_ROLE[role]}-{subject_id}"


def effective_status(status: str, expires_at: dt.datetime, now: dt.datetime) -> str:
    if status == REQUESTED and now >= expires_at:
        return EXPIRED
    return status


def lapsed(status: str, expires_at: dt.datetime, now: dt.datetime) -> bool:
    """Stored as REQUESTED but already past its expiry: must be written as EXPIRED."""
    return status == REQUESTED and effective_status(status, expires_at, now) == EXPIRED


def _terminal_conflict(status: str) -> Conflict:
    return Conflict(f"Session is {status}", code=_TERMINAL_CODES[status])


# --- requesting ---------------------------------------------------------------------------

def check_profile_complete(user: Mapping[str, Any]) -> None:
    if not user.get("sex") or user.get("age") is None:
        raise Conflict("Complete your profile (sex and age) before consulting a doctor",
                       code="PROFILE_INCOMPLETE")


def check_doctor_available(doctor: Mapping[str, Any]) -> None:
    if doctor["presence_status"] != "ONLINE" or not (doctor["chat_enabled"] or doctor["call_enabled"]):
        raise Conflict("The doctor is not available right now", code="DOCTOR_UNAVAILABLE")


def check_no_active_session(active_status: str | None) -> None:
    if active_status is not None:
        raise Conflict("You already have an active session", code="SESSION_ALREADY_ACTIVE")


# --- transitions --------------------------------------------------------------------------

def check_answerable(status: str) -> None:
    """Accept and reject: only a live REQUESTED session (pass the effective status)."""
    if status in _TERMINAL_CODES:
        raise _terminal_conflict(status)
    if status != REQUESTED:
        raise Conflict(f"Session is {status}, not REQUESTED", code="SESSION_NOT_REQUESTED")


def end_outcome(role: str, status: str) -> str:
    """What POST /end does for this caller in this (effective) state: END or CANCEL, else 409."""
    if status == ONGOING:
        return END
    if status == REQUESTED:
        if role == "client":
            return CANCEL
        raise Conflict("The session has not started; reject the request instead",
                       code="SESSION_NOT_STARTED")
    raise _terminal_conflict(status)


def check_token(role: str, status: str) -> None:
    """A join token: the patient from the request on, the doctor once accepted; never after."""
    if status == ONGOING or (status == REQUESTED and role == "client"):
        return
    if status == REQUESTED:
        raise Conflict("Accept the request before joining", code="SESSION_NOT_STARTED")
    raise _terminal_conflict(status)


# --- after an end -------------------------------------------------------------------------

def notified_of_end(ended_by: str) -> tuple[Role, ...]:
    """Who gets the `session.ended` push: the other party, or both when the server ended it."""
    if ended_by == PARTY_BY_ROLE[Role.CLIENT]:
        return (Role.DOCTOR,)
    if ended_by == PARTY_BY_ROLE[Role.DOCTOR]:
        return (Role.CLIENT,)
    return (Role.CLIENT, Role.DOCTOR)
