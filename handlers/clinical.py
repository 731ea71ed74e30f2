"""Prescriptions (and their PDF) and lab-test recommendations of a connect session.

The session's doctor writes, both participants read; only while the session is ONGOING or ENDED.
The PDF is made on first request under the prescription's row lock (so concurrent first requests
make it once), stored in the prescriptions container and reused until the prescription changes.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

from aiohttp import web

from domain.errors import Conflict, NotFound, ServiceUnavailable
from gateway import keys
from gateway.resources import blob_store
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import transaction
from integrations import prescription_pdf
from schemas.clinical import LabTestsIn, PrescriptionIn, lab_tests_out, prescription_out
from schemas.common import UUID_RE, parse_body, path_uuid
from storage import blobs, clinical
from storage.blobs import PRESCRIPTIONS, READ_URL_TTL
from domain import push_payloads
from storage.events import push_after_commit
from storage.session_access import session_for_participant

routes = web.RouteTableDef()
SESSION_PATH = "/connect/sessions/{session_id:" + UUID_RE + "}"
WRITABLE_STATES = ("ONGOING", "ENDED")
INDIA = ZoneInfo("Asia/Kolkata")
KINDS = {
    "prescription": {"schema": PrescriptionIn, "items": "medications", "out": prescription_out,
                     "push": push_payloads.prescription_ready, "missing": "PRESCRIPTION_NOT_FOUND",
                     "exists": "PRESCRIPTION_EXISTS"},
    "lab_tests": {"schema": LabTestsIn, "items": "recommendations", "out": lab_tests_out,
                  "push": push_payloads.labtests_recommended, "missing": "LAB_TESTS_NOT_FOUND",
                  "exists": "LAB_TESTS_EXIST"},
}


def _require_writable(session: dict) -> None:
    if session["status"] not in WRITABLE_STATES:
        raise Conflict("Only an ongoing or ended session has prescriptions and lab tests",
                       code="INVALID_SESSION_STATE")


async def _push(conn, kind: str, session: dict, record: dict) -> None:
    payload = KINDS[kind]["push"](session["id"], record["id"])
    await push_after_commit(conn, recipient_role="client", recipient_id=session["patient_id"],
                            **payload.outbox_fields())


async def _create(request: web.Request, kind: str) -> web.Response:
    spec = KINDS[kind]
    body = await parse_body(request, spec["schema"]())
    who = principal(request)
    async with transaction(request.app) as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id, lock=True)
        _require_writable(session)
        row = await clinical.create_record(conn, kind, session, body[spec["items"]], body["notes"],
                                           request.app[keys.CLOCK].now())
        if row is None:
            raise Conflict("It already exists for this session; use PUT to replace it", code=spec["exists"])
        await _push(conn, kind, session, row)
    return json_response(spec["out"](row), status=201)


async def _replace(request: web.Request, kind: str) -> web.Response:
    spec = KINDS[kind]
    body = await parse_body(request, spec["schema"]())
    who = principal(request)
    async with transaction(request.app) as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id, lock=True)
        _require_writable(session)
        current = await clinical.get_record(conn, kind, session["id"], lock=True)
        if current is None:
            raise NotFound("Nothing to replace yet; use POST", code=spec["missing"])
        row = await clinical.replace_record(conn, kind, current["id"], body[spec["items"]], body["notes"],
                                            request.app[keys.CLOCK].now())
        await _push(conn, kind, session, row)
    if current.get("pdf_blob"):  # the cached PDF shows what was replaced
        await blobs.quietly(blob_store(request.app).delete(PRESCRIPTIONS, current["pdf_blob"]), "stale PDF")
    return json_response(spec["out"](row))


async def _read(request: web.Request, kind: str) -> web.Response:
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
        row = await clinical.get_record(conn, kind, session["id"])
    if row is None:
        raise NotFound("Not written yet", code=KINDS[kind]["missing"])
    return json_response(KINDS[kind]["out"](row))


@routes.post(SESSION_PATH + "/prescription")
@requires("doctor")
async def create_prescription(request: web.Request) -> web.Response:
    return await _create(request, "prescription")


@routes.get(SESSION_PATH + "/prescription")
@requires("client", "doctor")
async def get_prescription(request: web.Request) -> web.Response:
    return await _read(request, "prescription")


@routes.put(SESSION_PATH + "/prescription")
@requires("doctor")
async def replace_prescription(request: web.Request) -> web.Response:
    return await _replace(request, "prescription")


@routes.post(SESSION_PATH + "/lab-tests")
@requires("doctor")
async def create_lab_tests(request: web.Request) -> web.Response:
    return await _create(request, "lab_tests")


@routes.get(SESSION_PATH + "/lab-tests")
@requires("client", "doctor")
async def get_lab_tests(request: web.Request) -> web.Response:
    return await _read(request, "lab_tests")


@routes.put(SESSION_PATH + "/lab-tests")
@requires("doctor")
async def replace_lab_tests(request: web.Request) -> web.Response:
    return await _replace(request, "lab_tests")


def _document(row: dict, session: dict, doctor: dict, patient: dict, now: dt.datetime):
    issued = row["updated_at"] or now
    return prescription_pdf.PrescriptionDocument(
        doctor_name=doctor["full_name"], qualifications=list(doctor["degrees"] or []),
        registration_number=doctor["registration_number"], speciality=doctor["speciality_category"],
        patient_name=patient["full_name"], patient_age=patient["age"], patient_sex=patient["sex"],
        date=issued.astimezone(INDIA).date(), issued_at=issued, consultation_id=str(session["id"]),
        prescription_id=str(row["id"]), version=row["version"], notes=row["notes"],
        medications=[prescription_pdf.Medication(m["name"], m["dosage"], m.get("duration"), m.get("instructions"))
                     for m in row["medications"]])


@routes.get(SESSION_PATH + "/prescription/pdf")
@requires("client", "doctor")
async def prescription_pdf_link(request: web.Request) -> web.Response:
    who = principal(request)
    store = blob_store(request.app)
    async with transaction(request.app) as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
        _require_writable(session)
        row = await clinical.get_record(conn, "prescription", session["id"], lock=True)
        if row is None:
            raise NotFound("Not written yet", code="PRESCRIPTION_NOT_FOUND")
        blob_name, generated_at = row["pdf_blob"], row["pdf_generated_at"]
        if not blob_name or row["pdf_version"] != row["version"]:
            now = request.app[keys.CLOCK].now()
            doctor, patient = await clinical.parties(conn, session["doctor_id"], session["patient_id"])
            document = _document(row, session, doctor, patient, now)
            try:
                pdf = await asyncio.get_running_loop().run_in_executor(None, prescription_pdf.render, document)
            except prescription_pdf.FontsMissing as exc:
                raise ServiceUnavailable(str(exc), code="PDF_FONTS_MISSING") from None
            blob_name = f"sessions/{session['id']}/prescriptions/{row['id']}-v{row['version']}.pdf"
            await store.put_bytes(PRESCRIPTIONS, blob_name, pdf, "application/pdf")
            await clinical.set_pdf(conn, row["id"], blob_name=blob_name, version=row["version"], now=now)
            generated_at = now
    return json_response({"download_url": store.read_url(PRESCRIPTIONS, blob_name, content_type="application/pdf"),
                          "expires_in": READ_URL_TTL, "generated_at": generated_at})
