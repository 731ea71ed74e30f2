"""Attachment use cases: session attachments and general attachments (two-phase SAS and DIRECT
uploads, one-shot uploads), their lists and deletion. Each state change owns its transaction; the
rules come from domain.files, the rows from storage.files; the blob store is passed in.

Both kinds live in one table: a session attachment is an attachment with scope SESSION. Whoever may
see the scope (the owner for PROFILE, the session's participants otherwise) may list it; only the
uploader completes, uploads to or deletes an attachment. Anything foreign is 404. A session
attachment that becomes UPLOADED is announced on the session's websocket and pushed to the other
participant, in the transaction that marks it.
"""
from __future__ import annotations

import uuid
from typing import Any, AsyncIterable

from storage.pool import Connection

from common.jsonutil import dumps, loads
from domain import push_payloads
from domain.files import (
    ATTACHMENT_TYPES,
    DIRECT,
    PROFILE,
    RECORDING,
    REPORT,
    SESSION,
    UPLOADED,
    attachment_blob_name,
    attachment_wire,
    check_awaiting_upload,
    check_content,
    check_declared,
    check_own_attachment,
    check_stored,
    empty_file,
    one_shot_type,
    profile_scope,
    require_scope_id,
    sanitize_filename,
    scope_not_found,
    upload_not_found,
)
from domain.messages import other_party
from services.context import Caller, Context, reading, transaction
from storage import blobs, events, files
from storage.blobs import AVATARS, RECORDINGS, REPORTS, SESSIONS, BlobStore
from storage.session_access import session_for_participant

Row = dict[str, Any]
CONTAINER_BY_SCOPE = {SESSION: SESSIONS, REPORT: REPORTS, RECORDING: RECORDINGS, PROFILE: AVATARS}


async def _resolve_scope(conn: Connection, caller: Caller, scope_type: str, scope_id: uuid.UUID | None
                         ) -> tuple[uuid.UUID, uuid.UUID | None, Row | None]:
    """(scope_id, session_id, session row) if the caller may use the scope; 404 otherwise."""
    if scope_type == PROFILE:
        return profile_scope(scope_id, caller.id), None, None
    scope_id = require_scope_id(scope_type, scope_id)
    session_id = scope_id if scope_type == SESSION else await files.session_of_scope(conn, scope_type, scope_id)
    if session_id is None:
        raise scope_not_found(scope_type)
    session = await session_for_participant(conn, session_id, caller.role, caller.id)
    return scope_id, session_id, session


async def _own(conn: Connection, caller: Caller, attachment_id: uuid.UUID, *,
               session_id: uuid.UUID | None = None, lock: bool = False) -> Row:
    row = await files.get_attachment(conn, attachment_id, lock=lock)
    return check_own_attachment(row, caller.role, caller.id, session_id=session_id)


async def _announce(conn: Connection, caller: Caller, row: Row, session: Row | None) -> None:
    """A session attachment becomes visible: tell the session's websocket and push the other party."""
    if row["scope_type"] != SESSION or session is None:
        return
    data = loads(dumps(attachment_wire(row)))
    await events.publish_after_commit(conn, events.session_channel(row["session_id"]), "message.attachment", data)
    other_role, other_id = other_party(session, caller.role)
    # The filename stays out of the push: it may say more than a lock screen should.
    payload = push_payloads.message_attachment(row["session_id"], row["id"], sender_role=caller.role,
                                               sender_name=await files.display_name(conn, caller.role, caller.id))
    await events.push_after_commit(conn, recipient_role=other_role, recipient_id=other_id, **payload.outbox_fields())


# --- two-phase uploads -------------------------------------------------------------------

async def init(ctx: Context, caller: Caller, scope_type: str, scope_id: uuid.UUID | None, *, filename: str,
               content_type: str, size_bytes: int, upload_mode: str) -> Row:
    """A PENDING attachment in a scope the caller may use, to be uploaded (SAS: to a write URL of its
    blob; DIRECT: through `upload`) and then completed."""
    content_type = check_declared(content_type, size_bytes, allowed=ATTACHMENT_TYPES,
                                  max_bytes=ctx.settings.max_upload_bytes)
    filename = sanitize_filename(filename)
    attachment_id = uuid.uuid4()
    async with transaction(ctx) as conn:
        scope_id, session_id, _ = await _resolve_scope(conn, caller, scope_type, scope_id)
        return await files.insert_attachment(
            conn, attachment_id=attachment_id, owner_role=caller.role, owner_id=caller.id, scope_type=scope_type,
            scope_id=scope_id, session_id=session_id, filename=filename, content_type=content_type,
            size_bytes=size_bytes, upload_mode=upload_mode, container=CONTAINER_BY_SCOPE[scope_type],
            blob_name=attachment_blob_name(scope_type, scope_id, attachment_id, filename))


async def complete(ctx: Context, store: BlobStore, caller: Caller, attachment_id: uuid.UUID, *,
                   session_id: uuid.UUID | None = None) -> Row:
    """Verify what landed in storage against the declaration and mark the attachment UPLOADED
    (announced if it belongs to a session). Repeating it changes nothing. `session_id`: through the
    session's own route, which the caller must take part in."""
    if session_id is not None:
        async with reading(ctx) as conn:
            await session_for_participant(conn, session_id, caller.role, caller.id)
    return await _finish(ctx, store, caller, attachment_id, session_id=session_id)


async def _finish(ctx: Context, store: BlobStore, caller: Caller, attachment_id: uuid.UUID, *,
                  session_id: uuid.UUID | None = None) -> Row:
    async with transaction(ctx) as conn:
        row = await _own(conn, caller, attachment_id, session_id=session_id, lock=True)
        if row["status"] == UPLOADED:
            return row  # a repeated complete changes nothing
        info = await store.verify(row["container"], row["blob_name"])
        if info is None:
            raise upload_not_found("upload_url")
        check_stored(declared_type=row["content_type"], declared_size=row["size_bytes"],
                     stored_size=info.size, head=info.head, max_bytes=ctx.settings.max_upload_bytes)
        session = None
        if row["session_id"] is not None:
            session = await session_for_participant(conn, row["session_id"], caller.role, caller.id)
        uploaded = await files.mark_attachment_uploaded(conn, attachment_id, info.size, ctx.now())
        assert uploaded is not None  # PENDING under the row lock
        await _announce(conn, caller, uploaded, session)
    return uploaded


async def upload(ctx: Context, store: BlobStore, caller: Caller, attachment_id: uuid.UUID,
                 chunks: AsyncIterable[bytes]) -> Row:
    """DIRECT mode: the bytes (read only once the attachment is known to await them) are streamed
    into storage, cut off beyond the declared size, then verified and completed as a SAS upload."""
    async with reading(ctx) as conn:
        row = await _own(conn, caller, attachment_id)
    check_awaiting_upload(row)
    head, stream = await blobs.peek(chunks)
    check_content(row["content_type"], head)
    await store.put_stream(row["container"], row["blob_name"], blobs.limited(stream, row["size_bytes"]),
                           row["content_type"])
    return await _finish(ctx, store, caller, attachment_id)


# --- one-shot upload ---------------------------------------------------------------------

async def upload_one_shot(ctx: Context, store: BlobStore, caller: Caller, scope_type: str,
                          scope_id: uuid.UUID | None, *, filename: str | None, declared_type: str | None,
                          chunks: AsyncIterable[bytes]) -> Row:
    """Stored and UPLOADED in one request: the scope is checked before any byte is read; the type is
    the declared one (if allowed and the bytes agree) or what the bytes are."""
    async with reading(ctx) as conn:
        scope_id, session_id, _ = await _resolve_scope(conn, caller, scope_type, scope_id)
    head, stream = await blobs.peek(chunks)
    content_type = one_shot_type(declared_type, head)
    name = sanitize_filename(filename)
    attachment_id = uuid.uuid4()
    container = CONTAINER_BY_SCOPE[scope_type]
    blob_name = attachment_blob_name(scope_type, scope_id, attachment_id, name)
    size = await store.put_stream(container, blob_name, blobs.limited(stream, ctx.settings.max_upload_bytes),
                                  content_type)
    if size == 0:
        await store.delete(container, blob_name)
        raise empty_file()
    now = ctx.now()
    async with transaction(ctx) as conn:
        session = None
        if session_id is not None:  # checked again: the upload took time
            session = await session_for_participant(conn, session_id, caller.role, caller.id)
        row = await files.insert_attachment(
            conn, attachment_id=attachment_id, owner_role=caller.role, owner_id=caller.id, scope_type=scope_type,
            scope_id=scope_id, session_id=session_id, filename=name, content_type=content_type, size_bytes=size,
            upload_mode=DIRECT, status=UPLOADED, container=container, blob_name=blob_name,
            verified_size_bytes=size, uploaded_at=now)
        await _announce(conn, caller, row, session)
    return row


# --- lists and deletion ------------------------------------------------------------------

async def list_for_session(ctx: Context, caller: Caller, session_id: uuid.UUID, *, limit: int,
                           offset: int) -> tuple[list[Row], int]:
    """The session's uploaded attachments, oldest first, for its participants."""
    async with reading(ctx) as conn:
        await session_for_participant(conn, session_id, caller.role, caller.id)
        return await files.list_attachments(conn, scope_type=SESSION, scope_id=session_id, limit=limit,
                                            offset=offset)


async def list_in_scope(ctx: Context, caller: Caller, scope_type: str, scope_id: uuid.UUID | None, *, limit: int,
                        offset: int) -> tuple[list[Row], int]:
    """A scope's uploaded attachments, oldest first (a PROFILE scope: the caller's own)."""
    async with reading(ctx) as conn:
        scope_id, _, _ = await _resolve_scope(conn, caller, scope_type, scope_id)
        owner = caller.id if scope_type == PROFILE else None
        return await files.list_attachments(conn, scope_type=scope_type, scope_id=scope_id, owner_id=owner,
                                            limit=limit, offset=offset)


async def delete(ctx: Context, store: BlobStore, caller: Caller, attachment_id: uuid.UUID) -> None:
    """The uploader deletes an attachment; an uploaded blob is soft-deleted after the commit."""
    async with transaction(ctx) as conn:
        row = await _own(conn, caller, attachment_id, lock=True)
        await files.mark_attachment_deleted(conn, attachment_id, ctx.now())
    if row["status"] == UPLOADED:
        await blobs.quietly(store.soft_delete(row["container"], row["blob_name"]), "attachment soft delete")
