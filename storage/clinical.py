"""Rows of prescriptions (with their cached PDF) and lab-test recommendations: SQL text on the driver
(storage.driver). The rules live in domain.clinical and the use cases in services.clinical.

One record of each per session (unique session_id): a concurrent second create inserts nothing.
A full replacement bumps `version`; a prescription's cached PDF is valid while pdf_version == version,
and the replacement clears it.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from common.jsonutil import dumps_str
from domain.clinical import LAB_TESTS, PRESCRIPTION
from storage import driver
from storage.tables import lab_test_recommendations, prescriptions

Row = dict[str, Any]
_TABLES = {PRESCRIPTION: prescriptions, LAB_TESTS: lab_test_recommendations}
# The column holding each record's items (jsonb).
_ITEMS = {PRESCRIPTION: "medications", LAB_TESTS: "recommendations"}
# Text columns a kind has besides its items and notes: a prescription's provisional diagnosis and
# advice (migration 0014), written and replaced with it.
DETAILS: dict[str, tuple[str, ...]] = {PRESCRIPTION: ("diagnosis", "advice"), LAB_TESTS: ()}
_FIELDS = {kind: ", ".join(c.name for c in table.c) for kind, table in _TABLES.items()}

_GET = {(kind, lock): (f"SELECT {_FIELDS[kind]} FROM {table.name} WHERE session_id = $1"
                       f"{' FOR UPDATE' if lock else ''}")
        for kind, table in _TABLES.items() for lock in (False, True)}
_INSERTED = {kind: ", ".join(("session_id", "doctor_id", "patient_id", _ITEMS[kind], "notes", "created_at",
                               "updated_at", *DETAILS[kind])) for kind in _TABLES}
_VALUES = {kind: ", ".join(("$1", "$2", "$3", "$4::jsonb", "$5", "$6", "$6",
                            *(f"${7 + i}" for i in range(len(DETAILS[kind]))))) for kind in _TABLES}
_CREATE = {kind: f"""
INSERT INTO {table.name} ({_INSERTED[kind]})
VALUES ({_VALUES[kind]})
ON CONFLICT (session_id) DO NOTHING
RETURNING {_FIELDS[kind]}""" for kind, table in _TABLES.items()}
_REPLACE = {
    PRESCRIPTION: f"""
UPDATE prescriptions SET medications = $2::jsonb, notes = $3, version = version + 1, updated_at = $4,
    diagnosis = $5, advice = $6, pdf_blob = NULL, pdf_version = NULL, pdf_generated_at = NULL
WHERE id = $1 RETURNING {_FIELDS[PRESCRIPTION]}""",
    LAB_TESTS: f"""
UPDATE lab_test_recommendations SET recommendations = $2::jsonb, notes = $3, version = version + 1, updated_at = $4
WHERE id = $1 RETURNING {_FIELDS[LAB_TESTS]}""",
}
_SET_PDF = "UPDATE prescriptions SET pdf_blob = $2, pdf_version = $3, pdf_generated_at = $4 WHERE id = $1"
_DOCTOR = "SELECT full_name, degrees, registration_number, speciality_category FROM doctors WHERE id = $1"
_PATIENT = "SELECT full_name, age, sex FROM users WHERE id = $1"


async def get_record(conn: Connection, kind: str, session_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    row = await driver.fetchrow(conn, _GET[kind, lock], session_id, begin=lock)
    return dict(row) if row is not None else None


def _details(kind: str, details: dict[str, Any] | None) -> list[Any]:
    return [(details or {}).get(name) for name in DETAILS[kind]]


async def create_record(conn: Connection, kind: str, session: Row, items: list[dict[str, Any]],
                        notes: str | None, now: dt.datetime, details: dict[str, Any] | None = None) -> Row | None:
    """Insert the session's record; None when one already exists. `details`: the DETAILS columns of
    the kind (absent: NULL)."""
    row = await driver.fetchrow(conn, _CREATE[kind], session["id"], session["doctor_id"], session["patient_id"],
                                dumps_str(items), notes, now, *_details(kind, details), begin=True)
    return dict(row) if row is not None else None


async def replace_record(conn: Connection, kind: str, record_id: uuid.UUID, items: list[dict[str, Any]],
                         notes: str | None, now: dt.datetime, details: dict[str, Any] | None = None) -> Row:
    row = await driver.fetchrow(conn, _REPLACE[kind], record_id, dumps_str(items), notes, now,
                                *_details(kind, details), begin=True)
    assert row is not None  # the caller holds the row
    return dict(row)


async def set_pdf(conn: Connection, prescription_id: uuid.UUID, *, blob_name: str, version: int,
                  now: dt.datetime) -> None:
    await driver.execute(conn, _SET_PDF, prescription_id, blob_name, version, now, begin=True)


async def parties(conn: Connection, doctor_id: uuid.UUID, patient_id: uuid.UUID) -> tuple[Row, Row]:
    """The doctor and patient rows a prescription document names."""
    doctor = await driver.fetchrow(conn, _DOCTOR, doctor_id)
    patient = await driver.fetchrow(conn, _PATIENT, patient_id)
    if doctor is None or patient is None:  # foreign keys of the prescription
        raise LookupError(f"no doctor {doctor_id} or patient {patient_id}")
    return dict(doctor), dict(patient)
