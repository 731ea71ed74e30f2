"""The session state machine as a table: every (role, state) → outcome or 409 code."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from domain import sessions as rules
from domain.errors import Conflict

T0 = dt.datetime(2026, 2, 7, 21, 56, 24, tzinfo=dt.timezone.utc)
ALL = ("REQUESTED", "ONGOING", "ENDED", "REJECTED", "EXPIRED", "CANCELLED")


def _code(fn, *args):
    try:
        return fn(*args) or "ok"
    except Conflict as exc:
        assert exc.status == 409
        return exc.code


@pytest.mark.parametrize("status, expected", [
    ("REQUESTED", "ok"),
    ("ONGOING", "SESSION_NOT_REQUESTED"),
    ("ENDED", "SESSION_ALREADY_ENDED"),
    ("REJECTED", "SESSION_REJECTED"),
    ("EXPIRED", "SESSION_EXPIRED"),
    ("CANCELLED", "SESSION_CANCELLED"),
])
def test_accept_and_reject_only_from_requested(status, expected):
    assert _code(rules.check_answerable, status) == expected


@pytest.mark.parametrize("role, status, expected", [
    ("client", "ONGOING", rules.END),
    ("doctor", "ONGOING", rules.END),
    ("client", "REQUESTED", rules.CANCEL),
    ("doctor", "REQUESTED", "SESSION_NOT_STARTED"),
    ("client", "ENDED", "SESSION_ALREADY_ENDED"),
    ("doctor", "ENDED", "SESSION_ALREADY_ENDED"),
    ("client", "REJECTED", "SESSION_REJECTED"),
    ("doctor", "EXPIRED", "SESSION_EXPIRED"),
    ("client", "CANCELLED", "SESSION_CANCELLED"),
])
def test_end_outcome_by_role_and_state(role, status, expected):
    assert _code(rules.end_outcome, role, status) == expected


@pytest.mark.parametrize("role, status, expected", [
    ("client", "REQUESTED", "ok"),
    ("client", "ONGOING", "ok"),
    ("doctor", "ONGOING", "ok"),
    ("doctor", "REQUESTED", "SESSION_NOT_STARTED"),
    ("client", "ENDED", "SESSION_ALREADY_ENDED"),
    ("doctor", "ENDED", "SESSION_ALREADY_ENDED"),
    ("client", "EXPIRED", "SESSION_EXPIRED"),
    ("client", "REJECTED", "SESSION_REJECTED"),
    ("client", "CANCELLED", "SESSION_CANCELLED"),
])
def test_token_by_role_and_state(role, status, expected):
    assert _code(rules.check_token, role, status) == expected


def test_every_state_has_an_answer_for_every_action():
    for status in ALL:
        for role in ("client", "doctor"):
            for fn in (rules.end_outcome, rules.check_token):
                assert _code(fn, role, status)  # never an exception other than Conflict
        assert _code(rules.check_answerable, status)


@pytest.mark.parametrize("status, offset, expected", [
    ("REQUESTED", -1, "REQUESTED"),
    ("REQUESTED", 0, "EXPIRED"),       # expiry is inclusive: at expires_at it has expired
    ("REQUESTED", 1, "EXPIRED"),
    ("ONGOING", 3600, "ONGOING"),      # only a request expires
    ("ENDED", 3600, "ENDED"),
])
def test_effective_status_at_expiry(status, offset, expected):
    expires_at = T0 + dt.timedelta(minutes=30)
    now = expires_at + dt.timedelta(seconds=offset)
    assert rules.effective_status(status, expires_at, now) == expected
    assert rules.lapsed(status, expires_at, now) == (status == "REQUESTED" and expected == "EXPIRED")


@pytest.mark.parametrize("user, ok", [
    ({"sex": "male", "age": 28}, True),
    ({"sex": "female", "age": 0}, True),
    ({"sex": None, "age": 28}, False),
    ({"sex": "male", "age": None}, False),
    ({}, False),
])
def test_profile_complete_needs_sex_and_age(user, ok):
    assert _code(rules.check_profile_complete, user) == ("ok" if ok else "PROFILE_INCOMPLETE")


@pytest.mark.parametrize("presence, chat, call, ok", [
    ("ONLINE", True, True, True),
    ("ONLINE", True, False, True),
    ("ONLINE", False, True, True),
    ("ONLINE", False, False, False),
    ("BUSY", True, True, False),
    ("OFFLINE", True, True, False),
])
def test_doctor_available_only_online_with_a_channel(presence, chat, call, ok):
    doctor = {"presence_status": presence, "chat_enabled": chat, "call_enabled": call}
    assert _code(rules.check_doctor_available, doctor) == ("ok" if ok else "DOCTOR_UNAVAILABLE")


def test_room_and_identities():
    sid, uid = uuid.UUID(int=1), uuid.UUID(int=2)
    assert rules.room_name(sid) == f"cn-{sid}"
    assert rules.identity("client", uid) == f"patient-{uid}"
    assert rules.identity("doctor", uid) == f"doctor-{uid}"
    assert _code(rules.check_no_active_session, None) == "ok"
    assert _code(rules.check_no_active_session, "ONGOING") == "SESSION_ALREADY_ACTIVE"
