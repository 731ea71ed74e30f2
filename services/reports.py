"""Session report use cases: the patient uploads a report in two phases (init, then complete once
the bytes are PUT to the write URL); both participants read it; only the uploader soft-deletes it.
Rules from domain.files, rows from storage.files; the blob store is passed in. Completing pushes the
doctor in the same transaction.
"""
from __future__ import annotations

import uuid
from typing import Any

from domain import push_payloads
from domain.files import (
    PENDING,
    REPORT_MAX_BYTES,
    REPORT_TYPES,
    check_declared,
    check_own_report,
    check_report_deletable,
    check_report_readable,
    check_stored,
    report_blob_name,
    sanitize_filename,
    upload_not_found,
)
from domain.roles import Role
from services.context import Caller, Context, reading, transaction
from storage import blobs, events, files
from storage.blobs import REPORTS, BlobStore
from storage.session_access import session_for_participant

Row = dict[str, Any]


async def init(ctx: Context, patient: Caller, session_id: uuid.UUID, *, original_filename: str, mime_type: str,
               size_bytes: int) -> Row:
    """A PENDING report of the session, its bytes to be PUT to a write URL of its blob."""
    mime_type = check_declared(mime_type, size_bytes, allowed=REPORT_TYPES, max_bytes=REPORT_MAX_BYTES,
                               where="query", type_field="mime_type")
    filename = sanitize_filename(original_filename)
    report_id, now = uuid.uuid4(), ctx.now()
    async with transaction(ctx) as conn:
        await session_for_participant(conn, session_id, patient.role, patient.id)
        return await files.insert_report(
            conn, report_id=report_id, session_id=session_id, uploader_id=patient.id, original_filename=filename,
            mime_type=mime_type, size_bytes=size_bytes, container=REPORTS,
            blob_name=report_blob_name(session_id, report_id, filename, now))


async def complete(ctx: Context, store: BlobStore, patient: Caller, session_id: uuid.UUID,
                   report_id: uuid.UUID) -> Row:
    """Verify the stored bytes against the declaration, mark the report UPLOADED and push the doctor.
    Repeating it changes nothing."""
    async with transaction(ctx) as conn:
        session = await session_for_participant(conn, session_id, patient.role, patient.id)
        row = check_own_report(await files.get_report(conn, session_id, report_id, lock=True), patient.id)
        if row["status"] == PENDING:
            info = await store.verify(REPORTS, row["blob_name"])
            if info is None:
                raise upload_not_found("sas_url")
            check_stored(declared_type=row["mime_type"], declared_size=row["size_bytes"], stored_size=info.size,
                         head=info.head, max_bytes=REPORT_MAX_BYTES)
            uploaded = await files.mark_report_uploaded(conn, report_id, size=info.size, mime_type=row["mime_type"],
                                                        now=ctx.now())
            assert uploaded is not None  # PENDING under the row lock
            row = uploaded
            payload = push_payloads.report_uploaded(session_id, report_id)
            await events.push_after_commit(conn, recipient_role=Role.DOCTOR, recipient_id=session["doctor_id"],
                                           **payload.outbox_fields())
    return row


async def list_uploaded(ctx: Context, caller: Caller, session_id: uuid.UUID, *, limit: int,
                        offset: int) -> tuple[list[Row], int]:
    """The session's uploaded reports, newest first, for its participants."""
    async with reading(ctx) as conn:
        await session_for_participant(conn, session_id, caller.role, caller.id)
        return await files.list_reports(conn, session_id, limit, offset)


async def get(ctx: Context, caller: Caller, session_id: uuid.UUID, report_id: uuid.UUID) -> Row:
    """An uploaded report (a pending one is the uploader's 409, anyone else's 404)."""
    async with reading(ctx) as conn:
        await session_for_participant(conn, session_id, caller.role, caller.id)
        row = await files.get_report(conn, session_id, report_id)
    return check_report_readable(row, caller.id)


async def delete(ctx: Context, store: BlobStore, caller: Caller, session_id: uuid.UUID, report_id: uuid.UUID) -> Row:
    """The uploading patient soft-deletes a report (the doctor: 403); a stored blob follows after
    the commit."""
    async with transaction(ctx) as conn:
        await session_for_participant(conn, session_id, caller.role, caller.id)
        check_report_deletable(await files.get_report(conn, session_id, report_id, lock=True), caller.role, caller.id)
        row = await files.mark_report_deleted(conn, report_id, ctx.now())
        assert row is not None  # not DELETED under the row lock
    if row["verified_size_bytes"] is not None:
        await blobs.quietly(store.soft_delete(REPORTS, row["blob_name"]), "report soft delete")
    return row
