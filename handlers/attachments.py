"""Session attachments and general attachments (two-phase SAS and DIRECT uploads): parse, then the
use cases of services.attachments (who may do what, the transactions, announcements)."""
from __future__ import annotations

import uuid
from typing import Any, AsyncIterator

from aiohttp import web

from domain.files import SAS
from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import FILE_PART, FILES, doc, multipart
from gateway.resources import blob_store
from gateway.tx import services
from schemas.common import UUID_RE, load, page, parse_body, parse_query, path_uuid
from schemas import examples
from schemas.files import (
    AttachmentInit,
    AttachmentInitOut,
    AttachmentListQuery,
    AttachmentOut,
    DownloadListQuery,
    GeneralAttachmentInit,
    ScopeFields,
    attachment_out,
    multipart_until_file,
)
from schemas.out import page_of
from services import attachments as use_cases
from services.context import Caller
from storage import blobs
from storage.blobs import WRITE_URL_TTL

routes = web.RouteTableDef()
SESSION_PATH = "/connect/sessions/{session_id:" + UUID_RE + "}/attachments"
ATTACHMENT_PATH = "/attachments/{attachment_id:" + UUID_RE + "}"
PARTICIPANTS = (Role.CLIENT, Role.DOCTOR)


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who.role, who.id)


async def _init(request: web.Request, body: dict[str, Any], scope_type: str,
                scope_id: uuid.UUID | None) -> web.Response:
    """A new attachment, answered with where to upload its bytes."""
    row = await use_cases.init(services(request.app), _caller(request), scope_type, scope_id,
                               filename=body["filename"], content_type=body["content_type"],
                               size_bytes=body["size_bytes"], upload_mode=body["upload_mode"])
    out = attachment_out(row)
    if row["upload_mode"] == SAS:
        store = blob_store(request.app)
        out["upload_url"] = store.write_url(row["container"], row["blob_name"], size=row["size_bytes"],
                                            content_type=row["content_type"])
        out["required_headers"] = store.required_headers(row["content_type"])
    else:
        out["upload_url"] = f"{request.app[keys.SETTINGS].base_url}/api/v2/attachments/{row['id']}/upload"
    out["expires_in"] = WRITE_URL_TTL
    return json_response(out, status=201)


def _listed(request: web.Request, query: dict[str, Any], rows: list[dict[str, Any]], total: int) -> web.Response:
    store = blob_store(request.app)
    items = [attachment_out(row, store.read_url(row["container"], row["blob_name"], content_type=row["content_type"])
                            if query["include_download_url"] else None) for row in rows]
    return json_response(page(items, total, query["limit"], query["offset"]))


# --- session attachments -----------------------------------------------------------------

@routes.post(SESSION_PATH)
@doc("Start a session attachment upload", tag=FILES, body=AttachmentInit, responses={201: AttachmentInitOut},
     errors=(404, 409, 413), description="→ PENDING. SAS mode: PUT the bytes to `upload_url` with "
     "`required_headers`, then complete. DIRECT: POST them to `upload_url` as multipart `file`.",
     request_example=examples.ATTACHMENT_INIT)
@requires(*PARTICIPANTS)
async def init_session_attachment(request: web.Request) -> web.Response:
    body = await parse_body(request, AttachmentInit)
    return await _init(request, body, "SESSION", path_uuid(request, "session_id"))


@routes.post(SESSION_PATH + "/{attachment_id:" + UUID_RE + "}/complete")
@doc("Complete a session attachment upload", tag=FILES, responses={200: AttachmentOut},
     errors=(400, 404, 409, 413), description="Verifies the blob exists and its size and type match (400 "
     "otherwise); → UPLOADED, and the session's websocket gets `message.attachment`.")
@requires(*PARTICIPANTS)
async def complete_session_attachment(request: web.Request) -> web.Response:
    row = await use_cases.complete(services(request.app), blob_store(request.app), _caller(request),
                                   path_uuid(request, "attachment_id"), session_id=path_uuid(request, "session_id"))
    return json_response(attachment_out(row))


@routes.get(SESSION_PATH)
@doc("A session's attachments", tag=FILES, query=DownloadListQuery, responses={200: page_of(AttachmentOut)},
     errors=(404,))
@requires(*PARTICIPANTS)
async def list_session_attachments(request: web.Request) -> web.Response:
    query = parse_query(request, DownloadListQuery)
    rows, total = await use_cases.list_for_session(services(request.app), _caller(request),
                                                   path_uuid(request, "session_id"), limit=query["limit"],
                                                   offset=query["offset"])
    return _listed(request, query, rows, total)


# --- general attachments -----------------------------------------------------------------

@routes.post("/attachments/init")
@doc("Start an upload (profile, session, report or recording scope)", tag=FILES, body=GeneralAttachmentInit,
     responses={201: AttachmentInitOut}, errors=(404, 409, 413), description="scope_id is required except for "
     "PROFILE.", request_example=examples.GENERAL_ATTACHMENT_INIT)
@requires(*PARTICIPANTS)
async def init_attachment(request: web.Request) -> web.Response:
    body = await parse_body(request, GeneralAttachmentInit)
    return await _init(request, body, body["scope_type"], body["scope_id"])


@routes.post(ATTACHMENT_PATH + "/complete")
@doc("Complete a SAS upload", tag=FILES, responses={200: AttachmentOut}, errors=(400, 404, 409, 413))
@requires(*PARTICIPANTS)
async def complete_attachment(request: web.Request) -> web.Response:
    row = await use_cases.complete(services(request.app), blob_store(request.app), _caller(request),
                                   path_uuid(request, "attachment_id"))
    return json_response(attachment_out(row))


@routes.post(ATTACHMENT_PATH + "/upload")
@doc("Upload the bytes of a DIRECT-mode attachment", tag=FILES,
     body=multipart({"file": FILE_PART}, ("file",)), responses={200: AttachmentOut}, errors=(400, 404, 409, 413))
@requires(*PARTICIPANTS)
async def upload_attachment(request: web.Request) -> web.Response:
    """DIRECT mode: the multipart `file` is streamed into storage, then verified like a SAS upload."""

    async def file_chunks() -> AsyncIterator[bytes]:
        # Read only once the use case knows the attachment awaits these bytes.
        _, part = await multipart_until_file(request)
        async for chunk in blobs.part_chunks(part):
            yield chunk

    row = await use_cases.upload(services(request.app), blob_store(request.app), _caller(request),
                                 path_uuid(request, "attachment_id"), file_chunks())
    return json_response(attachment_out(row))


@routes.post("/attachments")
@doc("Upload a file in one request", tag=FILES, body=multipart({
         "scope_type": {"type": "string", "enum": ["PROFILE", "SESSION", "REPORT", "RECORDING"]},
         "scope_id": {"type": "string", "format": "uuid", "description": "Required except for PROFILE"},
         "file": FILE_PART}, ("scope_type", "file"), "Multipart, the scope fields before the file"),
     responses={201: AttachmentOut}, errors=(400, 404, 413))
@requires(*PARTICIPANTS)
async def upload_attachment_one_shot(request: web.Request) -> web.Response:
    """Multipart `scope_type`, `scope_id`, then `file`: stored and UPLOADED in one request."""
    fields, part = await multipart_until_file(request)
    scope = load(ScopeFields, fields, "body")
    row = await use_cases.upload_one_shot(
        services(request.app), blob_store(request.app), _caller(request), scope["scope_type"], scope["scope_id"],
        filename=part.filename, declared_type=part.headers.get("Content-Type"), chunks=blobs.part_chunks(part))
    return json_response(attachment_out(row), status=201)


@routes.get("/attachments")
@doc("Attachments of a scope", tag=FILES, query=AttachmentListQuery, responses={200: page_of(AttachmentOut)},
     errors=(404,), description="The owner's, or a session participant's.")
@requires(*PARTICIPANTS)
async def list_attachments(request: web.Request) -> web.Response:
    query = parse_query(request, AttachmentListQuery)
    rows, total = await use_cases.list_in_scope(services(request.app), _caller(request), query["scope_type"],
                                                query["scope_id"], limit=query["limit"], offset=query["offset"])
    return _listed(request, query, rows, total)


@routes.delete(ATTACHMENT_PATH)
@doc("Delete an attachment (owner)", tag=FILES, responses={204: None}, errors=(404,))
@requires(*PARTICIPANTS)
async def delete_attachment(request: web.Request) -> web.Response:
    await use_cases.delete(services(request.app), blob_store(request.app), _caller(request),
                           path_uuid(request, "attachment_id"))
    return web.Response(status=204)
