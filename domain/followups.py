"""Follow-up rules (pure): the state machine as one table, the schedule's instants, the pushes.

States (CONTRACT.md): PENDING_PATIENT → ACCEPTED | REJECTED | RESCHEDULE_REQUESTED | CANCELLED;
RESCHEDULE_REQUESTED → ACCEPTED (the date becomes the proposal) or back to PENDING_PATIENT (the doctor
declines); ACCEPTED → CANCELLED. REJECTED and CANCELLED are final.

`TABLE` holds every cell of state × action × role: the next state, or the error. The use case applies
a cell with one UPDATE conditional on the version it read (storage.followups), so of two racing
actions one wins and the other finds the row changed (409).
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.push_payloads import PushPayload
from domain.roles import Role
from domain.sessions import ENDED, ONGOING

DEFAULT_TIMEZONE = "Asia/Kolkata"
# A follow-up without a time is reminded at this hour of its day, in its zone.
REMINDER_TIME_OF_DAY = dt.time(9, 0)
# The session states a doctor may schedule a follow-up from.
SCHEDULABLE_SESSION_STATES = (ONGOING, ENDED)


class FollowupStatus(StrEnum):
    PENDING_PATIENT = "PENDING_PATIENT"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    RESCHEDULE_REQUESTED = "RESCHEDULE_REQUESTED"
    CANCELLED = "CANCELLED"


PENDING, ACCEPTED, REJECTED = FollowupStatus.PENDING_PATIENT, FollowupStatus.ACCEPTED, FollowupStatus.REJECTED
RESCHEDULE_REQUESTED, CANCELLED = FollowupStatus.RESCHEDULE_REQUESTED, FollowupStatus.CANCELLED
# At most one of these per parent session (uq_followups_parent_open).
OPEN = (PENDING, RESCHEDULE_REQUESTED, ACCEPTED)


class Action(StrEnum):
    ACCEPT = "accept"                          # patient: POST /followups/{id}/respond
    REJECT = "reject"
    RESCHEDULE = "reschedule"
    APPROVE_RESCHEDULE = "approve_reschedule"  # doctor: POST /followups/{id}/reschedule-response {accept: true}
    DECLINE_RESCHEDULE = "decline_reschedule"  # ... {accept: false}
    CANCEL = "cancel"                          # either: POST /followups/{id}/cancel


PARTICIPANTS = (Role.CLIENT, Role.DOCTOR)
# The contract's transitions: (state, action) → (who may, next state).
_TRANSITIONS: dict[tuple[FollowupStatus, Action], tuple[frozenset[Role], FollowupStatus]] = {
    (PENDING, Action.ACCEPT): (frozenset({Role.CLIENT}), ACCEPTED),
    (PENDING, Action.REJECT): (frozenset({Role.CLIENT}), REJECTED),
    (PENDING, Action.RESCHEDULE): (frozenset({Role.CLIENT}), RESCHEDULE_REQUESTED),
    (PENDING, Action.CANCEL): (frozenset(PARTICIPANTS), CANCELLED),
    (RESCHEDULE_REQUESTED, Action.APPROVE_RESCHEDULE): (frozenset({Role.DOCTOR}), ACCEPTED),
    (RESCHEDULE_REQUESTED, Action.DECLINE_RESCHEDULE): (frozenset({Role.DOCTOR}), PENDING),
    (ACCEPTED, Action.CANCEL): (frozenset(PARTICIPANTS), CANCELLED),
}
# Who may take an action at all (in some state).
ACTION_ROLES: dict[Action, frozenset[Role]] = {
    action: frozenset().union(*(roles for (_, a), (roles, _) in _TRANSITIONS.items() if a == action))
    for action in Action
}
WRONG_ROLE, INVALID_TRANSITION = "WRONG_ROLE", "INVALID_TRANSITION"


def _cell(status: FollowupStatus, action: Action, role: Role) -> FollowupStatus | str:
    if role not in ACTION_ROLES[action]:
        return WRONG_ROLE           # the other party's action, in every state
    allowed = _TRANSITIONS.get((status, action))
    if allowed is None or role not in allowed[0]:
        return INVALID_TRANSITION   # not from this state
    return allowed[1]


# Every cell: state × action × role → the next state, or the error code.
TABLE: dict[tuple[FollowupStatus, Action, Role], FollowupStatus | str] = {
    (status, action, role): _cell(status, action, role)
    for status in FollowupStatus for action in Action for role in Role
}


def next_status(status: str, action: Action, role: Role | str) -> FollowupStatus:
    """The state `action` by `role` leads to from `status`, or the error (403 / 409)."""
    cell = TABLE[(FollowupStatus(status), action, Role(role))]
    if cell == WRONG_ROLE:
        raise Forbidden(f"A {Role(role).value} cannot {action.value.replace('_', ' ')} a follow-up", code=WRONG_ROLE)
    if cell == INVALID_TRANSITION:
        raise Conflict(f"The follow-up is {status}: it cannot be {_PAST_TENSE[action]}", code=INVALID_TRANSITION)
    return FollowupStatus(cell)


_PAST_TENSE = {Action.ACCEPT: "accepted", Action.REJECT: "rejected", Action.RESCHEDULE: "rescheduled",
               Action.APPROVE_RESCHEDULE: "moved to the proposed date",
               Action.DECLINE_RESCHEDULE: "sent back to the patient", Action.CANCEL: "cancelled"}


def changed_meanwhile() -> Conflict:
    """The row changed between the read and the conditional update: another action won."""
    return Conflict("The follow-up was changed by another request; read it again", code=INVALID_TRANSITION)


def not_found() -> NotFound:
    return NotFound("Follow-up not found", code="FOLLOWUP_NOT_FOUND")


def already_open() -> Conflict:
    return Conflict("This session already has an open follow-up", code="FOLLOWUP_EXISTS")


def check_schedulable(session_status: str) -> None:
    if session_status not in SCHEDULABLE_SESSION_STATES:
        raise Conflict("A follow-up is scheduled from an ongoing or ended session", code="INVALID_SESSION_STATE")


# --- the schedule -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Schedule:
    date: dt.date
    time: dt.time | None
    zone: ZoneInfo

    def past_at(self) -> dt.datetime:
        """From this instant the follow-up is past: its time, or the end of its day without one."""
        if self.time is not None:
            return _utc(dt.datetime.combine(self.date, self.time, tzinfo=self.zone))
        return _utc(dt.datetime.combine(self.date + dt.timedelta(days=1), dt.time(0), tzinfo=self.zone))

    def remind_at(self, before: dt.timedelta) -> dt.datetime:
        """When `followup.reminder` is due: `before` its time, or 09:00 of its day without one."""
        if self.time is not None:
            return self.past_at() - before
        return _utc(dt.datetime.combine(self.date, REMINDER_TIME_OF_DAY, tzinfo=self.zone))


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc)


def check_not_past(schedule: Schedule, now: dt.datetime, *, date_field: str, time_field: str) -> None:
    """A date before today in the schedule's zone, or a time already gone today: 422."""
    today = now.astimezone(schedule.zone).date()
    if schedule.date < today:
        raise ValidationFailed.single("body", date_field, f"Must not be in the past (today is {today.isoformat()} "
                                      f"in {schedule.zone.key})")
    if schedule.time is not None and schedule.past_at() <= now:
        raise ValidationFailed.single("body", time_field, "Must not be in the past")


@dataclass(frozen=True, slots=True)
class Change:
    """What one transition writes (every mutable column; storage writes them in one UPDATE)."""
    status: FollowupStatus
    scheduled_date: dt.date
    scheduled_time: dt.time | None
    proposed_date: dt.date | None
    proposed_time: dt.time | None
    cancel_reason: str | None
    cancelled_by: str | None
    past_at: dt.datetime
    remind_at: dt.datetime
    rearm_reminder: bool  # the time moved: a reminder already sent is due again for the new time


def schedule_of(row: Mapping[str, Any]) -> Schedule:
    return Schedule(row["scheduled_date"], row["scheduled_time"], ZoneInfo(row["scheduled_timezone"]))


def change(row: Mapping[str, Any], action: Action, role: Role | str, now: dt.datetime, remind_before: dt.timedelta, *,
           proposal: tuple[dt.date, dt.time | None] | None = None, reason: str | None = None) -> Change:
    """The transition `action` applied to `row`: its next state (or the error) and every column it sets."""
    status = next_status(row["status"], action, role)
    schedule = schedule_of(row)
    values = {"status": status, "scheduled_date": schedule.date, "scheduled_time": schedule.time,
              "proposed_date": row["proposed_date"], "proposed_time": row["proposed_time"],
              "cancel_reason": row["cancel_reason"], "cancelled_by": row["cancelled_by"],
              "past_at": row["past_at"], "remind_at": row["remind_at"], "rearm_reminder": False}
    if action == Action.RESCHEDULE:
        if proposal is None:
            raise ValidationFailed.single("body", "proposed_date", "Required when action is reschedule", "missing")
        proposed = Schedule(proposal[0], proposal[1], schedule.zone)
        check_not_past(proposed, now, date_field="proposed_date", time_field="proposed_time")
        values.update(proposed_date=proposed.date, proposed_time=proposed.time)
    elif action == Action.APPROVE_RESCHEDULE:
        moved = Schedule(row["proposed_date"], row["proposed_time"], schedule.zone)
        values.update(scheduled_date=moved.date, scheduled_time=moved.time, proposed_date=None, proposed_time=None,
                      past_at=moved.past_at(), remind_at=moved.remind_at(remind_before), rearm_reminder=True)
    elif action == Action.DECLINE_RESCHEDULE:
        values.update(proposed_date=None, proposed_time=None)
    elif action == Action.CANCEL:
        values.update(cancel_reason=reason, cancelled_by=Role(role).value)
    return Change(**values)


# --- pushes -------------------------------------------------------------------------------

def _when(row: Mapping[str, Any]) -> str:
    day = row["scheduled_date"]
    text = f"{day.day} {day:%b %Y}"
    return f"{text} at {row['scheduled_time']:%H:%M}" if row.get("scheduled_time") else text


def _data(event_type: str, row: Mapping[str, Any]) -> dict[str, str]:
    time = row.get("scheduled_time")
    data = {"type": event_type, "followup_id": row["id"], "session_id": row["parent_session_id"],
            "status": row["status"], "scheduled_date": row["scheduled_date"].isoformat(),
            "scheduled_time": time.isoformat() if time else None, "scheduled_timezone": row["scheduled_timezone"]}
    return {k: str(v) for k, v in data.items() if v is not None}


def _doctor(name: str | None) -> str:
    return (name or "").strip() or "Your doctor"


def scheduled_push(row: Mapping[str, Any], doctor_name: str | None) -> PushPayload:
    return PushPayload("followup.scheduled", "Follow-up scheduled",
                       f"{_doctor(doctor_name)} scheduled a follow-up on {_when(row)}", _data("followup.scheduled", row))


def reminder_push(row: Mapping[str, Any], doctor_name: str | None) -> PushPayload:
    return PushPayload("followup.reminder", "Follow-up reminder",
                       f"Your follow-up with {_doctor(doctor_name)} is on {_when(row)}", _data("followup.reminder", row))


# The push each transition sends to the other party: (event type, title, body).
_TRANSITION_PUSHES: dict[Action, tuple[str, str, str]] = {
    Action.ACCEPT: ("followup.accepted", "Follow-up accepted", "Your patient accepted the follow-up on {when}"),
    Action.REJECT: ("followup.rejected", "Follow-up declined", "Your patient declined the follow-up on {when}"),
    Action.RESCHEDULE: ("followup.reschedule_requested", "New date proposed",
                        "Your patient asked to move the follow-up to {proposed}"),
    Action.APPROVE_RESCHEDULE: ("followup.rescheduled", "Follow-up moved", "{doctor} moved your follow-up to {when}"),
    Action.DECLINE_RESCHEDULE: ("followup.reschedule_declined", "Proposed date declined",
                                "{doctor} kept your follow-up on {when}"),
    Action.CANCEL: ("followup.cancelled", "Follow-up cancelled", "The follow-up on {when} was cancelled"),
}


def transition_push(row: Mapping[str, Any], action: Action, doctor_name: str | None) -> PushPayload:
    """The push to the party that did not act (`row`: the follow-up after the transition)."""
    event_type, title, body = _TRANSITION_PUSHES[action]
    proposed = ({"scheduled_date": row["proposed_date"], "scheduled_time": row["proposed_time"]}
                if row.get("proposed_date") else row)
    return PushPayload(event_type, title, body.format(when=_when(row), proposed=_when(proposed),
                                                      doctor=_doctor(doctor_name)), _data(event_type, row))


def recipient(actor_role: Role | str, row: Mapping[str, Any]) -> tuple[Role, uuid.UUID]:
    """The other party of the follow-up."""
    if Role(actor_role) == Role.DOCTOR:
        return Role.CLIENT, row["patient_id"]
    return Role.DOCTOR, row["doctor_id"]

