"""Session attachments and general attachments (two-phase SAS and DIRECT uploads).

Both live in one table: a session attachment is an attachment with scope SESSION. Whoever may
see the scope (the owner for PROFILE, the session's participants otherwise) may list it; only
the uploader completes, uploads to or deletes an attachment. Anything foreign is 404.
"""
from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from domain import push_payloads
from domain.errors import BadRequest, Conflict, NotFound, ValidationFailed
from domain.files import (
    ATTACHMENT_TYPES, blob_safe_name, check_declared, check_stored, matches_type, normalize_type,
    sanitize_filename, sniff_type,
)
from gateway import keys
from gateway.resources import blob_store
from gateway.auth import Principal, principal, requires
from common.jsonutil import dumps, loads
from gateway.jsonutil import json_response
from gateway.tx import transaction
from schemas.common import UUID_RE, load, page, parse_body, parse_query, path_uuid
from schemas.files import (
    AttachmentInit, AttachmentListQuery, DownloadListQuery, GeneralAttachmentInit, ScopeFields, attachment_out,
    multipart_until_file,
)
from storage import blobs, files
from storage.blobs import AVATARS, RECORDINGS, REPORTS, SESSIONS, WRITE_URL_TTL
from storage.events import publish_after_commit, push_after_commit, session_channel
from storage.session_access import session_for_participant

routes = web.RouteTableDef()
SESSION_PATH = "/connect/sessions/{session_id:" + UUID_RE + "}/attachments"
ATTACHMENT_PATH = "/attachments/{attachment_id:" + UUID_RE + "}"
CONTAINER_BY_SCOPE = {"SESSION": SESSIONS, "REPORT": REPORTS, "RECORDING": RECORDINGS, "PROFILE": AVATARS}
PARTICIPANTS = ("client", "doctor")


def _blob_name(scope_type: str, scope_id: uuid.UUID, attachment_id: uuid.UUID, filename: str) -> str:
    prefix = "profiles" if scope_type == "PROFILE" else scope_type.lower() + "s"
    return f"{prefix}/{scope_id}/attachments/{attachment_id.hex}/{blob_safe_name(filename)}"


def _max_bytes(request: web.Request) -> int:
    return request.app[keys.SETTINGS].max_upload_bytes


async def _resolve_scope(conn, who: Principal, scope_type: str, scope_id: uuid.UUID | None
                         ) -> tuple[uuid.UUID, uuid.UUID | None, dict | None]:
    """(scope_id, session_id, session row) if the caller may use the scope; 404 otherwise."""
    if scope_type == "PROFILE":
        if scope_id is not None and scope_id != who.id:
            raise NotFound("Profile not found")
        return who.id, None, None
    if scope_id is None:
        raise ValidationFailed.single("body", "scope_id", f"scope_id is required for {scope_type}", "missing")
    session_id = await files.session_of_scope(conn, scope_type, scope_id)
    if session_id is None:
        raise NotFound(f"{scope_type.title()} not found")
    session = await session_for_participant(conn, session_id, who.role, who.id)
    return scope_id, session_id, session


async def _own_attachment(conn, who: Principal, attachment_id: uuid.UUID, *, session_id: uuid.UUID | None = None,
                          lock: bool = False) -> dict:
    row = await files.get_attachment(conn, attachment_id, lock=lock)
    if (row is None or row["owner_id"] != who.id or row["owner_role"] != who.role or row["status"] == "DELETED"
            or (session_id is not None and row["session_id"] != session_id)):
        raise NotFound("Attachment not found", code="ATTACHMENT_NOT_FOUND")
    return row


async def _announce(conn, who: Principal, row: dict, session: dict | None) -> None:
    """A session attachment becomes visible: tell the session's websocket and push the other party."""
    if row["scope_type"] != "SESSION" or session is None:
        return
    data = loads(dumps(attachment_out(row)))
    await publish_after_commit(conn, session_channel(row["session_id"]), "message.attachment", data)
    other_role, other_id = (("doctor", session["doctor_id"]) if who.role == "client"
                            else ("client", session["patient_id"]))
    # The filename stays out of the push: it may say more than a lock screen should.
    payload = push_payloads.message_attachment(row["session_id"], row["id"], sender_role=who.role,
                                               sender_name=await files.display_name(conn, who.role, who.id))
    await push_after_commit(conn, recipient_role=other_role, recipient_id=other_id, **payload.outbox_fields())


async def _init(request: web.Request, who: Principal, body: dict[str, Any], scope_type: str,
                scope_id: uuid.UUID | None) -> web.Response:
    content_type = check_declared(body["content_type"], body["size_bytes"], allowed=ATTACHMENT_TYPES,
                                  max_bytes=_max_bytes(request))
    filename = sanitize_filename(body["filename"])
    store = blob_store(request.app)
    attachment_id = uuid.uuid4()
    async with transaction(request.app) as conn:
        scope_id, session_id, _ = await _resolve_scope(conn, who, scope_type, scope_id)
        row = await files.insert_attachment(
            conn, id=attachment_id, owner_role=who.role, owner_id=who.id, scope_type=scope_type,
            scope_id=scope_id, session_id=session_id, filename=filename, content_type=content_type,
            size_bytes=body["size_bytes"], upload_mode=body["upload_mode"],
            container=CONTAINER_BY_SCOPE[scope_type],
            blob_name=_blob_name(scope_type, scope_id, attachment_id, filename))
    out = attachment_out(row)
    if row["upload_mode"] == "SAS":
        out["upload_url"] = store.write_url(row["container"], row["blob_name"], size=row["size_bytes"],
                                            content_type=content_type)
        out["required_headers"] = store.required_headers(content_type)
    else:
        out["upload_url"] = f"{request.app[keys.SETTINGS].base_url}/api/v2/attachments/{attachment_id}/upload"
    out["expires_in"] = WRITE_URL_TTL
    return json_response(out, status=201)


async def _finish(request: web.Request, who: Principal, attachment_id: uuid.UUID, *,
                  session_id: uuid.UUID | None = None, stored_size: int | None = None) -> web.Response:
    """Verify what landed in storage against the declaration and mark the attachment UPLOADED."""
    store = blob_store(request.app)
    async with transaction(request.app) as conn:
        row = await _own_attachment(conn, who, attachment_id, session_id=session_id, lock=True)
        if row["status"] == "UPLOADED":
            return json_response(attachment_out(row))  # a repeated complete changes nothing
        info = await store.verify(row["container"], row["blob_name"])
        if info is None:
            raise Conflict("No uploaded file found: PUT the bytes to upload_url first", code="UPLOAD_NOT_FOUND")
        check_stored(declared_type=row["content_type"], declared_size=row["size_bytes"],
                     stored_size=info.size, head=info.head, max_bytes=_max_bytes(request))
        session = None
        if row["session_id"] is not None:
            session = await session_for_participant(conn, row["session_id"], who.role, who.id)
        now = request.app[keys.CLOCK].now()
        row = await files.mark_attachment_uploaded(conn, attachment_id, info.size, now)
        await _announce(conn, who, row, session)
    return json_response(attachment_out(row))


def _download_url(request: web.Request, row: dict) -> str:
    return blob_store(request.app).read_url(row["container"], row["blob_name"], content_type=row["content_type"])


async def _list(request: web.Request, query: dict[str, Any], **where: Any) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        rows, total = await files.list_attachments(conn, limit=query["limit"], offset=query["offset"], **where)
    items = []
    for row in rows:
        url = _download_url(request, row) if query["include_download_url"] else None
        items.append(attachment_out(row, url))
    return json_response(page(items, total, query["limit"], query["offset"]))


# --- session attachments -----------------------------------------------------------------

@routes.post(SESSION_PATH)
@requires(*PARTICIPANTS)
async def init_session_attachment(request: web.Request) -> web.Response:
    body = await parse_body(request, AttachmentInit())
    return await _init(request, principal(request), body, "SESSION", path_uuid(request, "session_id"))


@routes.post(SESSION_PATH + "/{attachment_id:" + UUID_RE + "}/complete")
@requires(*PARTICIPANTS)
async def complete_session_attachment(request: web.Request) -> web.Response:
    session_id = path_uuid(request, "session_id")
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        await session_for_participant(conn, session_id, who.role, who.id)
    return await _finish(request, who, path_uuid(request, "attachment_id"), session_id=session_id)


@routes.get(SESSION_PATH)
@requires(*PARTICIPANTS)
async def list_session_attachments(request: web.Request) -> web.Response:
    query = parse_query(request, DownloadListQuery())
    session_id = path_uuid(request, "session_id")
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        await session_for_participant(conn, session_id, who.role, who.id)
    return await _list(request, query, scope_type="SESSION", scope_id=session_id)


# --- general attachments -----------------------------------------------------------------

@routes.post("/attachments/init")
@requires(*PARTICIPANTS)
async def init_attachment(request: web.Request) -> web.Response:
    body = await parse_body(request, GeneralAttachmentInit())
    return await _init(request, principal(request), body, body["scope_type"], body["scope_id"])


@routes.post(ATTACHMENT_PATH + "/complete")
@requires(*PARTICIPANTS)
async def complete_attachment(request: web.Request) -> web.Response:
    return await _finish(request, principal(request), path_uuid(request, "attachment_id"))


@routes.post(ATTACHMENT_PATH + "/upload")
@requires(*PARTICIPANTS)
async def upload_attachment(request: web.Request) -> web.Response:
    """DIRECT mode: the multipart `file` is streamed into storage, then verified like a SAS upload."""
    who = principal(request)
    attachment_id = path_uuid(request, "attachment_id")
    async with request.app[keys.DB].connect() as conn:
        row = await _own_attachment(conn, who, attachment_id)
    if row["status"] != "PENDING":
        raise Conflict("This attachment is already uploaded", code="ALREADY_UPLOADED")
    _, part = await multipart_until_file(request)
    head, chunks = await blobs.peek(blobs.part_chunks(part))
    if not matches_type(row["content_type"], head):
        raise BadRequest(f"File content is not {row['content_type']}", code="CONTENT_TYPE_MISMATCH")
    await blob_store(request.app).put_stream(
        row["container"], row["blob_name"], blobs.limited(chunks, row["size_bytes"]), row["content_type"])
    return await _finish(request, who, attachment_id)


@routes.post("/attachments")
@requires(*PARTICIPANTS)
async def upload_attachment_one_shot(request: web.Request) -> web.Response:
    """Multipart `scope_type`, `scope_id`, then `file`: stored and UPLOADED in one request."""
    who = principal(request)
    fields, part = await multipart_until_file(request)
    scope = load(ScopeFields(), fields, "body")
    async with request.app[keys.DB].connect() as conn:
        scope_id, session_id, _ = await _resolve_scope(conn, who, scope["scope_type"], scope["scope_id"])
    head, chunks = await blobs.peek(blobs.part_chunks(part))
    declared = normalize_type(part.headers.get("Content-Type"))
    if declared in ATTACHMENT_TYPES:
        if not matches_type(declared, head):
            raise BadRequest(f"File content is not {declared}", code="CONTENT_TYPE_MISMATCH")
        content_type = declared
    else:  # a generic declaration (application/octet-stream): go by the bytes
        content_type = sniff_type(head, ATTACHMENT_TYPES)
        if content_type is None:
            raise ValidationFailed.single("body", "file", "Unsupported file type")
    filename = sanitize_filename(part.filename)
    attachment_id = uuid.uuid4()
    container = CONTAINER_BY_SCOPE[scope["scope_type"]]
    blob_name = _blob_name(scope["scope_type"], scope_id, attachment_id, filename)
    store = blob_store(request.app)
    size = await store.put_stream(container, blob_name, blobs.limited(chunks, _max_bytes(request)), content_type)
    if size == 0:
        await store.delete(container, blob_name)
        raise ValidationFailed.single("body", "file", "The file is empty")
    now = request.app[keys.CLOCK].now()
    async with transaction(request.app) as conn:
        session = None
        if session_id is not None:  # checked again: the upload took time
            session = await session_for_participant(conn, session_id, who.role, who.id)
        row = await files.insert_attachment(
            conn, id=attachment_id, owner_role=who.role, owner_id=who.id, scope_type=scope["scope_type"],
            scope_id=scope_id, session_id=session_id, filename=filename, content_type=content_type,
            size_bytes=size, upload_mode="DIRECT", status="UPLOADED", container=container,
            blob_name=blob_name, verified_size_bytes=size, uploaded_at=now)
        await _announce(conn, who, row, session)
    return json_response(attachment_out(row), status=201)


@routes.get("/attachments")
@requires(*PARTICIPANTS)
async def list_attachments(request: web.Request) -> web.Response:
    query = parse_query(request, AttachmentListQuery())
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        scope_id, _, _ = await _resolve_scope(conn, who, query["scope_type"], query["scope_id"])
    owner = who.id if query["scope_type"] == "PROFILE" else None
    return await _list(request, query, scope_type=query["scope_type"], scope_id=scope_id, owner_id=owner)


@routes.delete(ATTACHMENT_PATH)
@requires(*PARTICIPANTS)
async def delete_attachment(request: web.Request) -> web.Response:
    who = principal(request)
    attachment_id = path_uuid(request, "attachment_id")
    async with transaction(request.app) as conn:
        row = await _own_attachment(conn, who, attachment_id, lock=True)
        await files.mark_attachment_deleted(conn, attachment_id, request.app[keys.CLOCK].now())
    if row["status"] == "UPLOADED":
        await blobs.quietly(blob_store(request.app).soft_delete(row["container"], row["blob_name"]),
                            "attachment soft delete")
    return web.Response(status=204)
