"""The patient-video permission state machine (pure: no I/O).

The doctor's video is always on; the patient's needs the doctor's permission and the patient's
consent. Every (state, action, role) not listed in `_TRANSITIONS` is refused: the wrong role for an
action is 403 (as every role check in the contract), a right role from the wrong state is 409.
"""
from __future__ import annotations

from domain.errors import Conflict, Forbidden
from domain.sessions import ONGOING

NOT_ALLOWED = "NOT_ALLOWED"
ALLOWED_BY_DOCTOR = "ALLOWED_BY_DOCTOR"
VIDEO_ON = "VIDEO_ON"
VIDEO_OFF = "VIDEO_OFF"
DECLINED_BY_PATIENT = "DECLINED_BY_PATIENT"
STATES = (NOT_ALLOWED, ALLOWED_BY_DOCTOR, VIDEO_ON, VIDEO_OFF, DECLINED_BY_PATIENT)

# Actions: one per endpoint, except toggle which carries `enabled` and so is two actions.
ALLOW, ACCEPT, DECLINE, TOGGLE_ON, TOGGLE_OFF, REVOKE = (
    "allow", "accept", "decline", "toggle_on", "toggle_off", "revoke")
ACTIONS = (ALLOW, ACCEPT, DECLINE, TOGGLE_ON, TOGGLE_OFF, REVOKE)
ROLES = ("doctor", "client")

# action → (roles that may take it, {from state: to state})
_TRANSITIONS: dict[str, tuple[frozenset[str], dict[str, str]]] = {
    ALLOW: (frozenset({"doctor"}), {NOT_ALLOWED: ALLOWED_BY_DOCTOR, DECLINED_BY_PATIENT: ALLOWED_BY_DOCTOR}),
    ACCEPT: (frozenset({"client"}), {ALLOWED_BY_DOCTOR: VIDEO_ON}),
    DECLINE: (frozenset({"client"}), {ALLOWED_BY_DOCTOR: DECLINED_BY_PATIENT}),
    TOGGLE_ON: (frozenset({"client"}), {VIDEO_OFF: VIDEO_ON}),
    TOGGLE_OFF: (frozenset({"client"}), {VIDEO_ON: VIDEO_OFF}),
    REVOKE: (frozenset({"doctor", "client"}),
             {ALLOWED_BY_DOCTOR: NOT_ALLOWED, VIDEO_ON: NOT_ALLOWED, VIDEO_OFF: NOT_ALLOWED}),
}


def transition(state: str, action: str, role: str) -> str:
    """The state after `role` takes `action` in `state`; Forbidden / Conflict(INVALID_TRANSITION) otherwise."""
    if action not in _TRANSITIONS:
        raise ValueError(f"unknown video permission action {action!r}")
    roles, moves = _TRANSITIONS[action]
    if role not in roles:
        raise Forbidden("This action is not allowed for your role", code="WRONG_ROLE")
    if state not in moves:
        raise Conflict(f"Cannot {action.replace('_', ' ')} video permission from {state}",
                       code="INVALID_TRANSITION")
    return moves[state]


def check_changeable(session_status: str) -> None:
    """The permission changes only while the session is ongoing (checked before the role or state)."""
    if session_status != ONGOING:
        raise Conflict("Video permission can only change while the session is ongoing", code="SESSION_NOT_ONGOING")


def toggle_action(enabled: bool) -> str:
    return TOGGLE_ON if enabled else TOGGLE_OFF


def patient_video_enabled(state: str) -> bool:
    return state == VIDEO_ON


def consent_round_after(action: str, consent_round: int) -> int:
    """Each doctor permission opens a new consent round."""
    return consent_round + 1 if action == ALLOW else consent_round


# --- call sessions ------------------------------------------------------------------------

def check_can_start_call(session_status: str) -> None:
    """A session's call is created while it is ongoing (an existing one is returned at any time)."""
    if session_status != ONGOING:
        raise Conflict("A call can only start while the session is ongoing", code="SESSION_NOT_ONGOING")
