"""Patient reports on a session: two-phase SAS upload by the patient, read by both participants,
soft-deleted by the uploader only (a doctor gets 403)."""
from __future__ import annotations

import uuid

from aiohttp import web

from domain.errors import Conflict, Forbidden, NotFound
from domain.files import REPORT_MAX_BYTES, REPORT_TYPES, blob_safe_name, check_declared, check_stored, sanitize_filename
from gateway import keys
from gateway.resources import blob_store
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import transaction
from schemas.common import UUID_RE, page, parse_query, path_uuid
from schemas.files import DownloadListQuery, ReportInitQuery, report_detail, report_item
from storage import blobs, files
from storage.blobs import REPORTS
from domain import push_payloads
from storage.events import push_after_commit
from storage.session_access import session_for_participant

routes = web.RouteTableDef()
REPORTS_PATH = "/connect/sessions/{session_id:" + UUID_RE + "}/reports"
REPORT_PATH = REPORTS_PATH + "/{report_id:" + UUID_RE + "}"


def _blob_name(session_id: uuid.UUID, report_id: uuid.UUID, filename: str, today) -> str:
    return f"sessions/{session_id}/reports/{today:%Y/%m/%d}/{report_id.hex[:12]}_{blob_safe_name(filename)}"


def _not_found() -> NotFound:
    return NotFound("Report not found", code="REPORT_NOT_FOUND")


@routes.post(REPORTS_PATH + "/init")
@requires("client")
async def init_report(request: web.Request) -> web.Response:
    query = parse_query(request, ReportInitQuery())
    mime_type = check_declared(query["mime_type"], query["size_bytes"], allowed=REPORT_TYPES,
                               max_bytes=REPORT_MAX_BYTES, where="query", type_field="mime_type")
    filename = sanitize_filename(query["original_filename"])
    session_id = path_uuid(request, "session_id")
    who = principal(request)
    report_id = uuid.uuid4()
    now = request.app[keys.CLOCK].now()
    async with transaction(request.app) as conn:
        await session_for_participant(conn, session_id, who.role, who.id)
        row = await files.insert_report(
            conn, id=report_id, session_id=session_id, uploader_id=who.id, original_filename=filename,
            mime_type=mime_type, size_bytes=query["size_bytes"], container=REPORTS,
            blob_name=_blob_name(session_id, report_id, filename, now))
    store = blob_store(request.app)
    return json_response({
        "report_id": row["id"],
        "sas_url": store.write_url(REPORTS, row["blob_name"], size=row["size_bytes"], content_type=mime_type),
        "required_headers": store.required_headers(mime_type),
        "container_name": REPORTS,
        "blob_name": row["blob_name"],
        "expires_in": blobs.WRITE_URL_TTL,
    }, status=201)


@routes.post(REPORT_PATH + "/complete")
@requires("client")
async def complete_report(request: web.Request) -> web.Response:
    session_id, report_id = path_uuid(request, "session_id"), path_uuid(request, "report_id")
    who = principal(request)
    store = blob_store(request.app)
    async with transaction(request.app) as conn:
        session = await session_for_participant(conn, session_id, who.role, who.id)
        row = await files.get_report(conn, session_id, report_id, lock=True)
        if row is None or row["uploader_id"] != who.id or row["status"] == "DELETED":
            raise _not_found()
        if row["status"] == "PENDING":
            info = await store.verify(REPORTS, row["blob_name"])
            if info is None:
                raise Conflict("No uploaded file found: PUT the bytes to sas_url first", code="UPLOAD_NOT_FOUND")
            check_stored(declared_type=row["mime_type"], declared_size=row["size_bytes"], stored_size=info.size,
                         head=info.head, max_bytes=REPORT_MAX_BYTES)
            row = await files.mark_report_uploaded(conn, report_id, size=info.size, mime_type=row["mime_type"],
                                                   now=request.app[keys.CLOCK].now())
            await push_after_commit(conn, recipient_role="doctor", recipient_id=session["doctor_id"],
                                    **push_payloads.report_uploaded(session_id, report_id).outbox_fields())
    return json_response({"report_id": row["id"], "status": row["status"],
                          "verified_size_bytes": row["verified_size_bytes"],
                          "verified_mime_type": row["verified_mime_type"]})


@routes.get(REPORTS_PATH)
@requires("client", "doctor")
async def list_reports(request: web.Request) -> web.Response:
    query = parse_query(request, DownloadListQuery())
    session_id = path_uuid(request, "session_id")
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        await session_for_participant(conn, session_id, who.role, who.id)
        rows, total = await files.list_reports(conn, session_id, query["limit"], query["offset"])
    store = blob_store(request.app)
    items = [report_item(row, store.read_url(REPORTS, row["blob_name"], content_type=row["verified_mime_type"])
                         if query["include_download_url"] else None) for row in rows]
    return json_response(page(items, total, query["limit"], query["offset"]))


@routes.get(REPORT_PATH)
@requires("client", "doctor")
async def get_report(request: web.Request) -> web.Response:
    session_id, report_id = path_uuid(request, "session_id"), path_uuid(request, "report_id")
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        await session_for_participant(conn, session_id, who.role, who.id)
        row = await files.get_report(conn, session_id, report_id)
    if row is None or row["status"] == "DELETED" or (row["status"] == "PENDING" and row["uploader_id"] != who.id):
        raise _not_found()
    if row["status"] == "PENDING":
        raise Conflict("The report upload is not complete", code="REPORT_NOT_UPLOADED")
    url = blob_store(request.app).read_url(REPORTS, row["blob_name"], content_type=row["verified_mime_type"])
    return json_response(report_detail(row, url))


@routes.delete(REPORT_PATH)
@requires("client", "doctor")
async def delete_report(request: web.Request) -> web.Response:
    session_id, report_id = path_uuid(request, "session_id"), path_uuid(request, "report_id")
    who = principal(request)
    async with transaction(request.app) as conn:
        await session_for_participant(conn, session_id, who.role, who.id)
        row = await files.get_report(conn, session_id, report_id, lock=True)
        if row is None or row["status"] == "DELETED" or (row["status"] == "PENDING" and row["uploader_id"] != who.id):
            raise _not_found()
        if row["uploader_id"] != who.id or who.role != "client":
            raise Forbidden("Only the patient who uploaded a report can delete it", code="NOT_REPORT_OWNER")
        row = await files.mark_report_deleted(conn, report_id, request.app[keys.CLOCK].now())
    if row["verified_size_bytes"] is not None:
        await blobs.quietly(blob_store(request.app).soft_delete(REPORTS, row["blob_name"]), "report soft delete")
    return json_response({"report_id": row["id"], "status": row["status"], "deleted_at": row["deleted_at"]})
