"""The follow-up rules (pure): every cell of state × action × role, and the schedule's instants in a
time zone. The expected table is written here from CONTRACT.md, not derived from the code."""
from __future__ import annotations

import datetime as dt
import itertools
import uuid
from zoneinfo import ZoneInfo

import pytest

from domain import followups as rules
from domain.errors import Conflict, Forbidden, ValidationFailed
from domain.followups import TABLE, Action, FollowupStatus, Schedule
from domain.roles import Role

P, A, J, R, X = ("PENDING_PATIENT", "ACCEPTED", "REJECTED", "RESCHEDULE_REQUESTED", "CANCELLED")
ACT = {"accept": Action.ACCEPT, "reject": Action.REJECT, "reschedule": Action.RESCHEDULE,
       "approve": Action.APPROVE_RESCHEDULE, "decline": Action.DECLINE_RESCHEDULE, "cancel": Action.CANCEL}
# CONTRACT.md, "Follow-up states", with who acts: the patient responds (accept | reject | reschedule),
# the doctor answers a proposal (reschedule-response), either cancels.
ALLOWED = {
    (P, "accept", "client"): A,
    (P, "reject", "client"): J,
    (P, "reschedule", "client"): R,
    (P, "cancel", "client"): X,
    (P, "cancel", "doctor"): X,
    (R, "approve", "doctor"): A,
    (R, "decline", "doctor"): P,
    (A, "cancel", "client"): X,
    (A, "cancel", "doctor"): X,
}
# The actions each party has at all (anyone else's: 403 in every state).
OWN = {"client": {"accept", "reject", "reschedule", "cancel"}, "doctor": {"approve", "decline", "cancel"},
       "admin": set()}


@pytest.mark.parametrize(("state", "action", "role"),
                         list(itertools.product((P, A, J, R, X), ACT, ("client", "doctor", "admin"))))
def test_every_cell(state, action, role):
    key = (FollowupStatus(state), ACT[action], Role(role))
    if (state, action, role) in ALLOWED:
        expected = ALLOWED[(state, action, role)]
        assert TABLE[key] == expected
        assert rules.next_status(state, ACT[action], role) == expected
    elif action not in OWN[role]:
        assert TABLE[key] == "WRONG_ROLE"
        with pytest.raises(Forbidden) as refused:
            rules.next_status(state, ACT[action], role)
        assert refused.value.status == 403 and refused.value.code == "WRONG_ROLE"
    else:
        assert TABLE[key] == "INVALID_TRANSITION"
        with pytest.raises(Conflict) as refused:
            rules.next_status(state, ACT[action], role)
        assert refused.value.status == 409 and refused.value.code == "INVALID_TRANSITION"


def test_the_table_has_every_cell_and_nothing_else():
    assert len(TABLE) == 5 * 6 * 3
    assert {k for k, v in TABLE.items() if v not in ("WRONG_ROLE", "INVALID_TRANSITION")} == {
        (FollowupStatus(s), ACT[a], Role(r)) for s, a, r in ALLOWED}


IST = ZoneInfo("Asia/Kolkata")
HOUR = dt.timedelta(hours=1)


def test_a_timed_follow_up_is_past_at_its_time_and_reminded_before():
    schedule = Schedule(dt.date(2026, 3, 15), dt.time(10, 30), IST)
    assert schedule.past_at() == dt.datetime(2026, 3, 15, 5, 0, tzinfo=dt.timezone.utc)
    assert schedule.remind_at(HOUR) == dt.datetime(2026, 3, 15, 4, 0, tzinfo=dt.timezone.utc)
    assert schedule.remind_at(dt.timedelta(minutes=15)) == dt.datetime(2026, 3, 15, 4, 45, tzinfo=dt.timezone.utc)


def test_a_follow_up_without_a_time_is_reminded_at_nine_and_past_at_the_end_of_its_day():
    schedule = Schedule(dt.date(2026, 3, 15), None, IST)
    assert schedule.remind_at(HOUR) == dt.datetime(2026, 3, 15, 3, 30, tzinfo=dt.timezone.utc)  # 09:00 IST
    assert schedule.past_at() == dt.datetime(2026, 3, 15, 18, 30, tzinfo=dt.timezone.utc)       # midnight IST


def test_instants_across_a_dst_change():
    new_york = ZoneInfo("America/New_York")  # clocks went forward on 2026-03-08
    day = Schedule(dt.date(2026, 3, 8), None, new_york)
    assert day.remind_at(HOUR) == dt.datetime(2026, 3, 8, 13, 0, tzinfo=dt.timezone.utc)  # 09:00 EDT
    assert day.past_at() == dt.datetime(2026, 3, 9, 4, 0, tzinfo=dt.timezone.utc)


def test_today_in_the_zone_is_not_past_while_utc_is_still_yesterday():
    now = dt.datetime(2026, 3, 14, 20, 0, tzinfo=dt.timezone.utc)  # 2026-03-15 01:30 in Kolkata
    rules.check_not_past(Schedule(dt.date(2026, 3, 15), None, IST), now, date_field="d", time_field="t")
    with pytest.raises(ValidationFailed) as refused:  # yesterday in Kolkata, "today" in UTC
        rules.check_not_past(Schedule(dt.date(2026, 3, 14), None, IST), now, date_field="d", time_field="t")
    assert refused.value.errors[0]["loc"] == ["body", "d"]
    # In UTC the 14th is still today.
    rules.check_not_past(Schedule(dt.date(2026, 3, 14), None, ZoneInfo("UTC")), now, date_field="d", time_field="t")


def test_a_time_already_gone_today_is_past():
    now = dt.datetime(2026, 3, 15, 5, 0, tzinfo=dt.timezone.utc)  # 10:30 IST
    with pytest.raises(ValidationFailed) as refused:
        rules.check_not_past(Schedule(dt.date(2026, 3, 15), dt.time(10, 30), IST), now, date_field="d",
                             time_field="t")
    assert refused.value.errors[0]["loc"] == ["body", "t"]
    rules.check_not_past(Schedule(dt.date(2026, 3, 15), dt.time(10, 31), IST), now, date_field="d", time_field="t")


def _row(**values):
    base = {"id": uuid.uuid4(), "parent_session_id": uuid.uuid4(), "doctor_id": uuid.uuid4(),
            "patient_id": uuid.uuid4(), "status": P, "scheduled_date": dt.date(2026, 3, 15),
            "scheduled_time": dt.time(10, 30), "scheduled_timezone": "Asia/Kolkata", "proposed_date": None,
            "proposed_time": None, "cancel_reason": None, "cancelled_by": None,
            "past_at": dt.datetime(2026, 3, 15, 5, 0, tzinfo=dt.timezone.utc),
            "remind_at": dt.datetime(2026, 3, 15, 4, 0, tzinfo=dt.timezone.utc)}
    return {**base, **values}


NOW = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.timezone.utc)


def test_approving_a_proposal_moves_the_schedule_and_rearms_the_reminder():
    row = _row(status=R, proposed_date=dt.date(2026, 3, 20), proposed_time=None)
    change = rules.change(row, Action.APPROVE_RESCHEDULE, "doctor", NOW, HOUR)
    assert (change.status, change.scheduled_date, change.scheduled_time) == (A, dt.date(2026, 3, 20), None)
    assert change.proposed_date is None and change.rearm_reminder
    assert change.remind_at == dt.datetime(2026, 3, 20, 3, 30, tzinfo=dt.timezone.utc)
    assert change.past_at == dt.datetime(2026, 3, 20, 18, 30, tzinfo=dt.timezone.utc)


def test_declining_a_proposal_keeps_the_schedule():
    row = _row(status=R, proposed_date=dt.date(2026, 3, 20), proposed_time=dt.time(15, 0))
    change = rules.change(row, Action.DECLINE_RESCHEDULE, "doctor", NOW, HOUR)
    assert (change.status, change.scheduled_date, change.proposed_date) == (P, dt.date(2026, 3, 15), None)
    assert not change.rearm_reminder and change.remind_at == row["remind_at"]


def test_a_proposal_must_not_be_in_the_past_in_the_follow_ups_zone():
    with pytest.raises(ValidationFailed) as refused:
        rules.change(_row(), Action.RESCHEDULE, "client", NOW, HOUR, proposal=(dt.date(2026, 3, 9), None))
    assert refused.value.errors[0]["loc"] == ["body", "proposed_date"]
    change = rules.change(_row(), Action.RESCHEDULE, "client", NOW, HOUR, proposal=(dt.date(2026, 3, 10), None))
    assert (change.status, change.proposed_date, change.scheduled_date) == (R, dt.date(2026, 3, 10), dt.date(2026, 3, 15))


def test_cancel_records_who_and_why():
    change = rules.change(_row(status=A), Action.CANCEL, "doctor", NOW, HOUR, reason="Travelling")
    assert (change.status, change.cancelled_by, change.cancel_reason) == (X, "doctor", "Travelling")
