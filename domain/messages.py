"""Session message rules (pure): who may send when, what content is acceptable, cursors, receipts.

Content: `text` is 1–4,000 characters. `image`, `file` and `audio` carry the id of an attachment
uploaded to THIS session (POST .../attachments, then .../complete): never a URL, because download
URLs are short-lived SAS links that would be dead in the chat history. An image must be an image/*
attachment and audio an audio/* one; `file` takes any type.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

from domain.errors import Conflict, ValidationFailed
from domain.roles import Role
from domain.sessions import ONGOING, PARTY_BY_ROLE

TEXT_MAX_CHARS = 4000
RECEIPT_MAX_IDS = 500
PAGE_DEFAULT, PAGE_MAX = 50, 100
ATTACHMENT_TYPES = {"image": "image/", "audio": "audio/", "file": ""}


def party(role: str) -> str:
    """The token role (client|doctor) as messages name the sender: patient|doctor."""
    return PARTY_BY_ROLE[role]


def other_party(session: Mapping[str, Any], role: str) -> tuple[Role, uuid.UUID]:
    """(token role, id) of the participant who is not `role`: who is told of what `role` did."""
    return (Role.DOCTOR, session["doctor_id"]) if role == Role.CLIENT else (Role.CLIENT, session["patient_id"])


def check_can_send(status: str) -> None:
    """A new message needs an ONGOING session (a retry of a stored one does not)."""
    if status != ONGOING:
        raise Conflict("Messages can only be sent while the session is ongoing", code="SESSION_NOT_ONGOING")


def _invalid_content(msg: str) -> ValidationFailed:
    return ValidationFailed.single("body", "content", msg)


def attachment_ref(content_type: str, content: str) -> uuid.UUID | None:
    """The attachment id an image/file/audio message refers to (422 if not a UUID); None for text."""
    if content_type == "text":
        return None  # its length is checked by schemas.messages.MessageCreate
    try:
        return uuid.UUID(content)
    except ValueError:
        raise _invalid_content(f"A {content_type} message carries the id of an attachment of this session") from None


def check_attachment(content_type: str, attachment: dict[str, Any] | None, session_id: uuid.UUID) -> None:
    """The referenced attachment must be an uploaded, undeleted file of this session, of a fitting type."""
    if (attachment is None or attachment["session_id"] != session_id or attachment["scope_type"] != "SESSION"
            or attachment["status"] != "UPLOADED" or attachment["deleted_at"] is not None):
        raise _invalid_content("No uploaded attachment with this id in this session")
    prefix = ATTACHMENT_TYPES[content_type]
    if not attachment["content_type"].lower().startswith(prefix):
        raise _invalid_content(f"A {content_type} message needs a {prefix}* attachment")


def check_idempotent_retry(existing: dict[str, Any], content_type: str, content: str) -> None:
    """A retried client_message_id must carry the same message; anything else is a client bug."""
    if existing["content_type"] != content_type or existing["content"] != content:
        raise Conflict("client_message_id was already used for a different message", code="IDEMPOTENCY_CONFLICT")


# --- receipts -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Receipt:
    """A receipt stamps the other party's messages that lack it, once each (a repeat changes
    nothing); a message is read only once it was delivered. One event names what it stamped."""
    event: str    # the event type
    column: str   # the message field it stamps


DELIVERED = Receipt("message.delivered", "delivered_at")
READ = Receipt("message.read", "read_at")


# --- cursors ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cursor:
    """A page boundary: a point in time (the reference's datetime cursor, exclusive) or a message
    id (exclusive, ties at the same instant broken by insertion order)."""
    at: dt.datetime | None = None
    message_id: uuid.UUID | None = None


def parse_cursor(raw: str | None, name: str) -> Cursor | None:
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    try:
        return Cursor(message_id=uuid.UUID(value))
    except ValueError:
        pass
    for candidate in (value, value.replace(" ", "+")):  # an unencoded "+05:30" arrives as " 05:30"
        try:
            at = dt.datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return Cursor(at=at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc))
    raise ValidationFailed.single("query", name, "Expected an ISO 8601 datetime or a message id", "value_error")


def message_out(row: dict[str, Any]) -> dict[str, Any]:
    """A message as clients see it, on REST and in `message.new` events alike."""
    return {
        "id": row["id"],
        "session_id": row["session_id"],
        "sender_id": row["sender_id"],
        "sender_role": row["sender_role"],
        "client_message_id": row["client_message_id"],
        "content_type": row["content_type"],
        "content": row["content"],
        "created_at": row["created_at"],
        "delivered_at": row["delivered_at"],
        "read_at": row["read_at"],
    }
