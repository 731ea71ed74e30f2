"""Prescriptions (and their PDF) and lab-test recommendations of a connect session: parse, then
services.clinical (the session's doctor writes, both participants read; only while the session is
ONGOING or ENDED)."""
from __future__ import annotations

from typing import Any, Callable

from aiohttp import web
from marshmallow import Schema

from domain.clinical import KINDS, LAB_TESTS, PRESCRIPTION
from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import POST_SESSION, doc
from gateway.resources import blob_store
from gateway.tx import services
from integrations import prescription_pdf
from schemas import examples
from schemas.clinical import (
    LabTestsIn, LabTestsOut, PrescriptionIn, PrescriptionOut, PrescriptionPdfOut, lab_tests_out, prescription_out,
)
from schemas.common import UUID_RE, parse_body, path_uuid
from services import clinical as use_cases
from services.context import Caller
from storage.blobs import PRESCRIPTIONS, READ_URL_TTL
from storage.clinical import DETAILS

routes = web.RouteTableDef()
SESSION_PATH = "/connect/sessions/{session_id:" + UUID_RE + "}"
# Each kind's request body and response shape.
SHAPES: dict[str, tuple[type[Schema], Callable[[dict[str, Any]], dict[str, Any]]]] = {
    PRESCRIPTION: (PrescriptionIn, prescription_out),
    LAB_TESTS: (LabTestsIn, lab_tests_out),
}


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who.role, who.id)


def _details(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """A prescription's diagnosis and advice (a replacement without them clears them, as notes)."""
    return {name: body.get(name) for name in DETAILS[kind]}


async def _create(request: web.Request, kind: str) -> web.Response:
    schema, out = SHAPES[kind]
    body = await parse_body(request, schema)
    row = await use_cases.create(services(request.app), _caller(request), path_uuid(request, "session_id"), kind,
                                 body[KINDS[kind].items], body["notes"], _details(kind, body))
    return json_response(out(row), status=201)


async def _replace(request: web.Request, kind: str) -> web.Response:
    schema, out = SHAPES[kind]
    body = await parse_body(request, schema)
    row = await use_cases.replace(services(request.app), blob_store(request.app), _caller(request),
                                  path_uuid(request, "session_id"), kind, body[KINDS[kind].items], body["notes"],
                                  _details(kind, body))
    return json_response(out(row))


async def _read(request: web.Request, kind: str) -> web.Response:
    row = await use_cases.read(services(request.app), _caller(request), path_uuid(request, "session_id"), kind)
    return json_response(SHAPES[kind][1](row))


@routes.post(SESSION_PATH + "/prescription")
@doc("Write the session's prescription (doctor)", tag=POST_SESSION, body=PrescriptionIn,
     responses={201: PrescriptionOut}, errors=(404, 409), description="At least one medication; the session ONGOING "
     "or ENDED (409 otherwise); one per session (409: use PUT). The patient gets `prescription.ready`.",
     request_example=examples.PRESCRIPTION_IN)
@requires(Role.DOCTOR)
async def create_prescription(request: web.Request) -> web.Response:
    return await _create(request, PRESCRIPTION)


@routes.get(SESSION_PATH + "/prescription")
@doc("The session's prescription", tag=POST_SESSION, responses={200: PrescriptionOut}, errors=(404,))
@requires(Role.CLIENT, Role.DOCTOR)
async def get_prescription(request: web.Request) -> web.Response:
    return await _read(request, PRESCRIPTION)


@routes.put(SESSION_PATH + "/prescription")
@doc("Replace the prescription (doctor)", tag=POST_SESSION, body=PrescriptionIn, responses={200: PrescriptionOut},
     errors=(404, 409), description="Full replacement; the cached PDF is made again on its next request.",
     request_example=examples.PRESCRIPTION_IN)
@requires(Role.DOCTOR)
async def replace_prescription(request: web.Request) -> web.Response:
    return await _replace(request, PRESCRIPTION)


@routes.post(SESSION_PATH + "/lab-tests")
@doc("Recommend lab tests (doctor)", tag=POST_SESSION, body=LabTestsIn, responses={201: LabTestsOut},
     errors=(404, 409), description="At least one recommendation, priority routine or urgent; the patient gets "
     "`labtests.recommended`.", request_example=examples.LAB_TESTS_IN)
@requires(Role.DOCTOR)
async def create_lab_tests(request: web.Request) -> web.Response:
    return await _create(request, LAB_TESTS)


@routes.get(SESSION_PATH + "/lab-tests")
@doc("The session's lab-test recommendations", tag=POST_SESSION, responses={200: LabTestsOut}, errors=(404,))
@requires(Role.CLIENT, Role.DOCTOR)
async def get_lab_tests(request: web.Request) -> web.Response:
    return await _read(request, LAB_TESTS)


@routes.put(SESSION_PATH + "/lab-tests")
@doc("Replace the lab-test recommendations (doctor)", tag=POST_SESSION, body=LabTestsIn,
     responses={200: LabTestsOut}, errors=(404, 409), request_example=examples.LAB_TESTS_IN)
@requires(Role.DOCTOR)
async def replace_lab_tests(request: web.Request) -> web.Response:
    return await _replace(request, LAB_TESTS)


@routes.get(SESSION_PATH + "/prescription/pdf")
@doc("The prescription as a PDF (a download URL)", tag=POST_SESSION, responses={200: PrescriptionPdfOut},
     errors=(404, 409), description="Made on the first request and cached; each call gives a fresh 10-minute URL.",
     examples={200: examples.PRESCRIPTION_PDF})
@requires(Role.CLIENT, Role.DOCTOR)
async def prescription_pdf_link(request: web.Request) -> web.Response:
    store = blob_store(request.app)
    pdf = await use_cases.prescription_pdf(services(request.app), store, prescription_pdf.render, _caller(request),
                                           path_uuid(request, "session_id"))
    return json_response({"download_url": store.read_url(PRESCRIPTIONS, pdf.blob_name, content_type="application/pdf"),
                          "expires_in": READ_URL_TTL, "generated_at": pdf.generated_at})
