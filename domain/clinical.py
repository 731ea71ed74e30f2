"""Clinical record rules (pure): a session's prescription and lab-test recommendations.

The session's doctor writes them, both participants read them, and only while the session is
ONGOING or ENDED. One record of each kind per session; a replacement bumps its version, and a
prescription's PDF is made again for the new version.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from domain import push_payloads
from domain.errors import Conflict, NotFound
from domain.sessions import ENDED, ONGOING

PRESCRIPTION, LAB_TESTS = "prescription", "lab_tests"
WRITABLE_STATES = (ONGOING, ENDED)
INDIA = ZoneInfo("Asia/Kolkata")  # the date printed on a prescription


@dataclass(frozen=True, slots=True)
class Kind:
    items: str                       # the body field (and column) holding the record's items
    push: Callable[[uuid.UUID, uuid.UUID], push_payloads.PushPayload]  # told to the patient on each write
    missing: str                     # 404 code
    exists: str                      # 409 code of a second create


KINDS = {
    PRESCRIPTION: Kind("medications", push_payloads.prescription_ready, "PRESCRIPTION_NOT_FOUND",
                       "PRESCRIPTION_EXISTS"),
    LAB_TESTS: Kind("recommendations", push_payloads.labtests_recommended, "LAB_TESTS_NOT_FOUND",
                    "LAB_TESTS_EXIST"),
}


def check_writable(session_status: str) -> None:
    if session_status not in WRITABLE_STATES:
        raise Conflict("Only an ongoing or ended session has prescriptions and lab tests",
                       code="INVALID_SESSION_STATE")


def already_exists(kind: str) -> Conflict:
    return Conflict("It already exists for this session; use PUT to replace it", code=KINDS[kind].exists)


def nothing_to_replace(kind: str) -> NotFound:
    return NotFound("Nothing to replace yet; use POST", code=KINDS[kind].missing)


def not_written(kind: str) -> NotFound:
    return NotFound("Not written yet", code=KINDS[kind].missing)


def pdf_is_current(prescription: Mapping[str, Any]) -> bool:
    """The cached PDF shows this version of the prescription."""
    return bool(prescription["pdf_blob"]) and prescription["pdf_version"] == prescription["version"]


def pdf_blob_name(session_id: uuid.UUID, prescription_id: uuid.UUID, version: int) -> str:
    return f"sessions/{session_id}/prescriptions/{prescription_id}-v{version}.pdf"


def issued_at(prescription: Mapping[str, Any], now: dt.datetime) -> dt.datetime:
    return prescription["updated_at"] or now


def issue_date(issued: dt.datetime) -> dt.date:
    """The prescription's date as the patient reads it (India)."""
    return issued.astimezone(INDIA).date()
