"""Patient reports on a session: two-phase SAS upload by the patient, read by both participants,
soft-deleted by the uploader only (a doctor gets 403). Parse, then services.reports."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import FILES, doc
from gateway.resources import blob_store
from gateway.tx import services
from schemas.common import UUID_RE, page, parse_query, path_uuid
from schemas import examples
from schemas.files import (
    DownloadListQuery, ReportCompleteOut, ReportDeletedOut, ReportDetailOut, ReportInitOut, ReportInitQuery, ReportItemOut,
    report_detail, report_item,
)
from schemas.out import page_of
from services import reports as use_cases
from services.context import Caller
from storage.blobs import REPORTS, WRITE_URL_TTL

routes = web.RouteTableDef()
REPORTS_PATH = "/connect/sessions/{session_id:" + UUID_RE + "}/reports"
REPORT_PATH = REPORTS_PATH + "/{report_id:" + UUID_RE + "}"


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who.role, who.id)


@routes.post(REPORTS_PATH + "/init")
@doc("Start a report upload (patient)", tag=FILES, query=ReportInitQuery, responses={201: ReportInitOut},
     errors=(404, 409, 413), description="PDF, JPEG or PNG, at most 10 MB. PUT the bytes to `sas_url` with "
     "`required_headers`, then complete.", examples={201: examples.REPORT_INIT})
@requires(Role.CLIENT)
async def init_report(request: web.Request) -> web.Response:
    query = parse_query(request, ReportInitQuery)
    row = await use_cases.init(services(request.app), _caller(request), path_uuid(request, "session_id"),
                               original_filename=query["original_filename"], mime_type=query["mime_type"],
                               size_bytes=query["size_bytes"])
    store = blob_store(request.app)
    return json_response({
        "report_id": row["id"],
        "sas_url": store.write_url(REPORTS, row["blob_name"], size=row["size_bytes"], content_type=row["mime_type"]),
        "required_headers": store.required_headers(row["mime_type"]),
        "container_name": REPORTS,
        "blob_name": row["blob_name"],
        "expires_in": WRITE_URL_TTL,
    }, status=201)


@routes.post(REPORT_PATH + "/complete")
@doc("Complete a report upload", tag=FILES, responses={200: ReportCompleteOut}, errors=(400, 404, 409, 413),
     description="Verifies the blob; the doctor gets a `report.uploaded` push.", examples={200: examples.REPORT_COMPLETE})
@requires(Role.CLIENT)
async def complete_report(request: web.Request) -> web.Response:
    row = await use_cases.complete(services(request.app), blob_store(request.app), _caller(request),
                                   path_uuid(request, "session_id"), path_uuid(request, "report_id"))
    return json_response({"report_id": row["id"], "status": row["status"],
                          "verified_size_bytes": row["verified_size_bytes"],
                          "verified_mime_type": row["verified_mime_type"]})


@routes.get(REPORTS_PATH)
@doc("A session's reports", tag=FILES, query=DownloadListQuery, responses={200: page_of(ReportItemOut)},
     errors=(404,))
@requires(Role.CLIENT, Role.DOCTOR)
async def list_reports(request: web.Request) -> web.Response:
    query = parse_query(request, DownloadListQuery)
    rows, total = await use_cases.list_uploaded(services(request.app), _caller(request),
                                                path_uuid(request, "session_id"), limit=query["limit"],
                                                offset=query["offset"])
    store = blob_store(request.app)
    items = [report_item(row, store.read_url(REPORTS, row["blob_name"], content_type=row["verified_mime_type"])
                         if query["include_download_url"] else None) for row in rows]
    return json_response(page(items, total, query["limit"], query["offset"]))


@routes.get(REPORT_PATH)
@doc("A report, with a download URL", tag=FILES, responses={200: ReportDetailOut}, errors=(404, 409),
     examples={200: examples.REPORT_DETAIL})
@requires(Role.CLIENT, Role.DOCTOR)
async def get_report(request: web.Request) -> web.Response:
    row = await use_cases.get(services(request.app), _caller(request), path_uuid(request, "session_id"),
                              path_uuid(request, "report_id"))
    url = blob_store(request.app).read_url(REPORTS, row["blob_name"], content_type=row["verified_mime_type"])
    return json_response(report_detail(row, url))


@routes.delete(REPORT_PATH)
@doc("Delete a report (the patient who uploaded it)", tag=FILES, responses={200: ReportDeletedOut},
     errors=(403, 404), description="Soft delete; a doctor gets 403 NOT_REPORT_OWNER.",
     examples={200: examples.REPORT_DELETED})
@requires(Role.CLIENT, Role.DOCTOR)
async def delete_report(request: web.Request) -> web.Response:
    row = await use_cases.delete(services(request.app), blob_store(request.app), _caller(request),
                                 path_uuid(request, "session_id"), path_uuid(request, "report_id"))
    return json_response({"report_id": row["id"], "status": row["status"], "deleted_at": row["deleted_at"]})
