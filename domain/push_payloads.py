"""Push notification texts and data for the session, message and video events, in one place.

A payload is what `storage.events.push_after_commit` stores: title, body and a flat `data` map the
mobile apps use to route the tap (`type`, `session_id`, the ids involved). FCM data values must be
strings; `fcm_data` makes any stored row conform, whoever wrote it.

Message pushes never carry the message text: health details do not belong on lock screens or in
third-party push infrastructure. The app fetches the message when the tap opens the session.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from domain.money import rupees
from domain.sessions import ENDED, EXPIRED, ONGOING, REJECTED, REQUESTED

_CONTENT_NOUNS = {"text": "a message", "image": "a photo", "file": "a file", "audio": "a voice message"}
_VIDEO_TEXTS = {
    # state → (title, body) for the recipient of the change
    "ALLOWED_BY_DOCTOR": ("Video permission", "{doctor} invited you to turn on your video"),
    "VIDEO_ON": ("Patient video on", "{patient} turned on their video"),
    "VIDEO_OFF": ("Patient video off", "{patient} turned off their video"),
    "DECLINED_BY_PATIENT": ("Video declined", "{patient} prefers to keep their video off"),
    "NOT_ALLOWED": ("Video permission ended", "Patient video is no longer allowed in this consultation"),
}


@dataclass(frozen=True)
class PushPayload:
    event_type: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)

    def outbox_fields(self) -> dict[str, Any]:
        """Keyword arguments for storage.events.push_after_commit (plus recipient_role / recipient_id)."""
        return {"event_type": self.event_type, "title": self.title, "body": self.body, "data": dict(self.data)}


def _ids(**values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


def _name(name: str | None, fallback: str) -> str:
    return (name or "").strip() or fallback


# --- sessions -----------------------------------------------------------------------------

def session_requested(session_id: uuid.UUID, patient_name: str | None) -> PushPayload:
    return PushPayload("session.requested", "New consultation request",
                       f"{_name(patient_name, 'A patient')} wants to consult you now",
                       _ids(type="session.requested", session_id=session_id, status=REQUESTED))


def session_accepted(session_id: uuid.UUID, doctor_name: str | None) -> PushPayload:
    return PushPayload("session.accepted", "Your doctor is ready",
                       f"{_name(doctor_name, 'Your doctor')} accepted your consultation request",
                       _ids(type="session.accepted", session_id=session_id, status=ONGOING))


def session_rejected(session_id: uuid.UUID, doctor_name: str | None) -> PushPayload:
    return PushPayload("session.rejected", "Request declined",
                       f"{_name(doctor_name, 'The doctor')} cannot take your request right now",
                       _ids(type="session.rejected", session_id=session_id, status=REJECTED))


def session_expired(session_id: uuid.UUID) -> PushPayload:
    return PushPayload("session.expired", "Request expired",
                       "The doctor could not respond in time. Please try another doctor.",
                       _ids(type="session.expired", session_id=session_id, status=EXPIRED))


def session_ended(session_id: uuid.UUID, *, recipient_role: str, minutes: int | None = None,
                  charged_paise: int | None = None, reason: str | None = None) -> PushPayload:
    if reason == "balance_exhausted" and recipient_role == "client":
        body = "Your wallet balance ran out. Recharge to continue consulting."
    elif minutes is not None and charged_paise is not None and recipient_role == "client":
        body = f"Duration {minutes} min, charged ₹{charged_paise / 100:.2f}"
    elif minutes is not None:
        body = f"Duration {minutes} min"
    else:
        body = "The consultation has ended"
    return PushPayload("session.ended", "Consultation ended", body,
                       _ids(type="session.ended", session_id=session_id, status=ENDED, reason=reason))


# --- messages and attachments -------------------------------------------------------------

def message_new(session_id: uuid.UUID, message_id: uuid.UUID, *, sender_role: str,
                sender_name: str | None, content_type: str) -> PushPayload:
    fallback = "Your doctor" if sender_role == "doctor" else "Your patient"
    sender = _name(sender_name, fallback)
    return PushPayload("message.new", sender, f"{sender} sent you {_CONTENT_NOUNS.get(content_type, 'a message')}",
                       _ids(type="message.new", session_id=session_id, message_id=message_id,
                            sender_role=sender_role, content_type=content_type))


def message_attachment(session_id: uuid.UUID, attachment_id: uuid.UUID, *, sender_role: str,
                       sender_name: str | None, filename: str | None = None) -> PushPayload:
    fallback = "Your doctor" if sender_role == "doctor" else "Your patient"
    sender = _name(sender_name, fallback)
    body = f"{sender} shared {filename}" if filename else f"{sender} shared a file"
    return PushPayload("message.attachment", "New attachment", body,
                       _ids(type="message.attachment", session_id=session_id, attachment_id=attachment_id,
                            sender_role=sender_role))


# --- video permission ---------------------------------------------------------------------

def video_permission(session_id: uuid.UUID, *, state: str, consent_round: int, actor_role: str,
                     doctor_name: str | None = None, patient_name: str | None = None) -> PushPayload:
    title, body = _VIDEO_TEXTS[state]
    body = body.format(doctor=_name(doctor_name, "Your doctor"), patient=_name(patient_name, "Your patient"))
    return PushPayload("video.permission", title, body,
                       _ids(type="video.permission", session_id=session_id, video_permission_state=state,
                            consent_round=consent_round, changed_by=actor_role,
                            patient_video_enabled=str(state == "VIDEO_ON").lower()))


# --- clinical records and reports ---------------------------------------------------------

def prescription_ready(session_id: uuid.UUID, prescription_id: uuid.UUID) -> PushPayload:
    return PushPayload("prescription.ready", "Prescription ready", "Your doctor has shared a prescription",
                       _ids(type="prescription.ready", session_id=session_id, prescription_id=prescription_id))


def labtests_recommended(session_id: uuid.UUID, lab_tests_id: uuid.UUID) -> PushPayload:
    return PushPayload("labtests.recommended", "Lab tests recommended", "Your doctor has recommended lab tests",
                       _ids(type="labtests.recommended", session_id=session_id, lab_tests_id=lab_tests_id))


def report_uploaded(session_id: uuid.UUID, report_id: uuid.UUID) -> PushPayload:
    return PushPayload("report.uploaded", "New report", "Your patient uploaded a report",
                       _ids(type="report.uploaded", session_id=session_id, report_id=report_id))


# --- payments (wallet top-ups) ------------------------------------------------------------

def payment_success(order_id: str, amount: int, bonus_amount: int, balance: int) -> PushPayload:
    body = f"{rupees(amount)} added to your wallet" + (f" + {rupees(bonus_amount)} bonus" if bonus_amount else "")
    return PushPayload("payment.success", "Wallet recharged", body,
                       _ids(type="payment.success", order_id=order_id, status="PAID", amount=amount,
                            bonus_amount=bonus_amount, balance=balance))


def payment_failed(order_id: str, amount: int) -> PushPayload:
    return PushPayload("payment.failed", "Payment failed",
                       f"Your wallet recharge of {rupees(amount)} did not go through.",
                       _ids(type="payment.failed", order_id=order_id, status="FAILED", amount=amount))


# --- the wire -----------------------------------------------------------------------------

def fcm_data(event_type: str, data: dict[str, Any] | None, notification_id: uuid.UUID | str) -> dict[str, str]:
    """The FCM `data` map for a stored notification: string values only, always `type` and an id."""
    out: dict[str, str] = {}
    for key, value in (data or {}).items():
        if value is None:
            continue
        if isinstance(value, str):
            out[str(key)] = value
        elif isinstance(value, bool):
            out[str(key)] = "true" if value else "false"
        elif isinstance(value, (int, float, uuid.UUID)):
            out[str(key)] = str(value)
        else:
            out[str(key)] = json.dumps(value, separators=(",", ":"), default=str)
    out["type"] = event_type
    out["notification_id"] = str(notification_id)
    return out
