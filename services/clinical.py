"""Clinical record use cases: a session's prescription (and its PDF) and lab-test recommendations.

The session's doctor writes (create, replace), both participants read; only while the session is
ONGOING or ENDED (domain.clinical). Each write pushes the patient in its transaction. The PDF is made
on first request under the prescription's row lock (so concurrent first requests make it once),
stored in the prescriptions container and reused until the prescription changes. The blob store and
the PDF renderer are passed in.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from storage.pool import Connection

from domain import clinical as rules
from domain.errors import ServiceUnavailable
from domain.roles import Role
from integrations.prescription_pdf import FontsMissing, Medication, PrescriptionDocument
from services.context import Caller, Context, reading, transaction
from storage import blobs, clinical, events
from storage.blobs import PRESCRIPTIONS, BlobStore
from storage.session_access import session_for_participant

Row = dict[str, Any]
Render = Callable[[PrescriptionDocument], bytes]


async def _push(conn: Connection, kind: str, session: Row, record: Row) -> None:
    payload = rules.KINDS[kind].push(session["id"], record["id"])
    await events.push_after_commit(conn, recipient_role=Role.CLIENT, recipient_id=session["patient_id"],
                                   **payload.outbox_fields())


async def create(ctx: Context, doctor: Caller, session_id: uuid.UUID, kind: str, items: list[dict[str, Any]],
                 notes: str | None, details: dict[str, Any] | None = None) -> Row:
    """The session's first record of `kind` (a second: 409), pushed to the patient. `details`: a
    prescription's diagnosis and advice."""
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, doctor.role, doctor.id, lock=True)
        rules.check_writable(session["status"])
        row = await clinical.create_record(conn, kind, session, items, notes, ctx.now(), details)
        if row is None:
            raise rules.already_exists(kind)
        await _push(conn, kind, session, row)
    return row


async def replace(ctx: Context, store: BlobStore, doctor: Caller, session_id: uuid.UUID, kind: str,
                  items: list[dict[str, Any]], notes: str | None, details: dict[str, Any] | None = None) -> Row:
    """A full replacement (version + 1), pushed to the patient; a cached PDF of the old version is
    deleted after the commit."""
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, doctor.role, doctor.id, lock=True)
        rules.check_writable(session["status"])
        current = await clinical.get_record(conn, kind, session["id"], lock=True)
        if current is None:
            raise rules.nothing_to_replace(kind)
        row = await clinical.replace_record(conn, kind, current["id"], items, notes, ctx.now(), details)
        await _push(conn, kind, session, row)
    if current.get("pdf_blob"):  # the cached PDF shows what was replaced
        await blobs.quietly(store.delete(PRESCRIPTIONS, current["pdf_blob"]), "stale PDF")
    return row


async def read(ctx: Context, caller: Caller, session_id: uuid.UUID, kind: str) -> Row:
    async with reading(ctx) as conn:
        session = await session_for_participant(conn, session_id, caller.role, caller.id)
        row = await clinical.get_record(conn, kind, session["id"])
    if row is None:
        raise rules.not_written(kind)
    return row


@dataclass(frozen=True, slots=True)
class PrescriptionPdf:
    blob_name: str          # in the prescriptions container
    generated_at: dt.datetime


async def prescription_pdf(ctx: Context, store: BlobStore, render: Render, caller: Caller,
                           session_id: uuid.UUID) -> PrescriptionPdf:
    """The PDF of the current version of the session's prescription, made (and stored) if missing."""
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, caller.role, caller.id)
        rules.check_writable(session["status"])
        row = await clinical.get_record(conn, rules.PRESCRIPTION, session["id"], lock=True)
        if row is None:
            raise rules.not_written(rules.PRESCRIPTION)
        if rules.pdf_is_current(row):
            return PrescriptionPdf(row["pdf_blob"], row["pdf_generated_at"])
        now = ctx.now()
        doctor, patient = await clinical.parties(conn, session["doctor_id"], session["patient_id"])
        document = _document(row, session, doctor, patient, now)
        try:
            pdf = await asyncio.get_running_loop().run_in_executor(None, render, document)
        except FontsMissing as exc:
            raise ServiceUnavailable(str(exc), code="PDF_FONTS_MISSING") from None
        blob_name = rules.pdf_blob_name(session["id"], row["id"], row["version"])
        await store.put_bytes(PRESCRIPTIONS, blob_name, pdf, "application/pdf")
        await clinical.set_pdf(conn, row["id"], blob_name=blob_name, version=row["version"], now=now)
    return PrescriptionPdf(blob_name, now)


def _document(row: Row, session: Row, doctor: Row, patient: Row, now: dt.datetime) -> PrescriptionDocument:
    issued = rules.issued_at(row, now)
    return PrescriptionDocument(
        doctor_name=doctor["full_name"], qualifications=list(doctor["degrees"] or []),
        registration_number=doctor["registration_number"], speciality=doctor["speciality_category"],
        patient_name=patient["full_name"], patient_age=patient["age"], patient_sex=patient["sex"],
        date=rules.issue_date(issued), issued_at=issued, consultation_id=str(session["id"]),
        prescription_id=str(row["id"]), version=row["version"], notes=row["notes"],
        diagnosis=row["diagnosis"], advice=row["advice"],
        medications=[Medication(m["name"], m["dosage"], m.get("duration"), m.get("instructions"))
                     for m in row["medications"]])
