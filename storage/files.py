"""Queries for attachments, session reports and recordings.

State changes are conditional updates (`... WHERE status = 'PENDING'`), so two concurrent
completes or deletes cannot both win.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import attachments, doctors, recordings, session_reports, users

Row = dict[str, Any]


async def _one(conn: AsyncConnection, query) -> Row | None:
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row is not None else None


async def _page(conn: AsyncConnection, table: sa.Table, where, order, limit: int, offset: int
                ) -> tuple[list[Row], int]:
    total = (await conn.execute(sa.select(sa.func.count()).select_from(table).where(where))).scalar_one()
    rows = (await conn.execute(sa.select(table).where(where).order_by(*order).limit(limit).offset(offset))
            ).mappings().all()
    return [dict(r) for r in rows], total


# --- attachments -------------------------------------------------------------------------

async def insert_attachment(conn: AsyncConnection, **values: Any) -> Row:
    return dict((await conn.execute(sa.insert(attachments).values(**values).returning(attachments))
                 ).mappings().one())


async def get_attachment(conn: AsyncConnection, attachment_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    query = sa.select(attachments).where(attachments.c.id == attachment_id)
    return await _one(conn, query.with_for_update() if lock else query)


async def list_attachments(conn: AsyncConnection, *, scope_type: str | None, scope_id: uuid.UUID | None,
                           session_id: uuid.UUID | None = None, owner_id: uuid.UUID | None = None,
                           limit: int, offset: int) -> tuple[list[Row], int]:
    """Uploaded attachments of one scope (or of a whole session), oldest first."""
    where = [attachments.c.status == "UPLOADED"]
    if scope_type is not None:
        where.append(attachments.c.scope_type == scope_type)
    if scope_id is not None:
        where.append(attachments.c.scope_id == scope_id)
    if session_id is not None:
        where.append(attachments.c.session_id == session_id)
    if owner_id is not None:
        where.append(attachments.c.owner_id == owner_id)
    order = (attachments.c.created_at, attachments.c.id)
    return await _page(conn, attachments, sa.and_(*where), order, limit, offset)


async def mark_attachment_uploaded(conn: AsyncConnection, attachment_id: uuid.UUID, verified_size: int,
                                   now: dt.datetime) -> Row | None:
    query = (sa.update(attachments)
             .where(attachments.c.id == attachment_id, attachments.c.status == "PENDING")
             .values(status="UPLOADED", verified_size_bytes=verified_size, uploaded_at=now)
             .returning(attachments))
    return await _one(conn, query)


async def mark_attachment_deleted(conn: AsyncConnection, attachment_id: uuid.UUID, now: dt.datetime) -> Row | None:
    query = (sa.update(attachments)
             .where(attachments.c.id == attachment_id, attachments.c.status != "DELETED")
             .values(status="DELETED", deleted_at=now)
             .returning(attachments))
    return await _one(conn, query)


async def session_of_scope(conn: AsyncConnection, scope_type: str, scope_id: uuid.UUID) -> uuid.UUID | None:
    """The connect session a SESSION / REPORT / RECORDING scope belongs to (None: no such object)."""
    if scope_type == "SESSION":
        return scope_id
    table = {"REPORT": session_reports, "RECORDING": recordings}[scope_type]
    where = [table.c.id == scope_id]
    if table is session_reports:
        where.append(session_reports.c.status != "DELETED")
    return (await conn.execute(sa.select(table.c.session_id).where(*where))).scalar_one_or_none()


# --- session reports ---------------------------------------------------------------------

async def insert_report(conn: AsyncConnection, **values: Any) -> Row:
    return dict((await conn.execute(sa.insert(session_reports).values(**values).returning(session_reports))
                 ).mappings().one())


async def get_report(conn: AsyncConnection, session_id: uuid.UUID, report_id: uuid.UUID, *,
                     lock: bool = False) -> Row | None:
    query = sa.select(session_reports).where(session_reports.c.id == report_id,
                                             session_reports.c.session_id == session_id)
    return await _one(conn, query.with_for_update() if lock else query)


async def list_reports(conn: AsyncConnection, session_id: uuid.UUID, limit: int, offset: int
                       ) -> tuple[list[Row], int]:
    where = sa.and_(session_reports.c.session_id == session_id, session_reports.c.status == "UPLOADED")
    order = (session_reports.c.created_at.desc(), session_reports.c.id)
    return await _page(conn, session_reports, where, order, limit, offset)


async def mark_report_uploaded(conn: AsyncConnection, report_id: uuid.UUID, *, size: int, mime_type: str,
                               now: dt.datetime) -> Row | None:
    query = (sa.update(session_reports)
             .where(session_reports.c.id == report_id, session_reports.c.status == "PENDING")
             .values(status="UPLOADED", verified_size_bytes=size, verified_mime_type=mime_type, uploaded_at=now)
             .returning(session_reports))
    return await _one(conn, query)


async def mark_report_deleted(conn: AsyncConnection, report_id: uuid.UUID, now: dt.datetime) -> Row | None:
    query = (sa.update(session_reports)
             .where(session_reports.c.id == report_id, session_reports.c.status != "DELETED")
             .values(status="DELETED", deleted_at=now)
             .returning(session_reports))
    return await _one(conn, query)


# --- recordings --------------------------------------------------------------------------

ACTIVE_RECORDING = ("STARTING", "ACTIVE")
FINAL_RECORDING = ("COMPLETED", "FAILED")


async def active_recording(conn: AsyncConnection, session_id: uuid.UUID) -> Row | None:
    return await _one(conn, sa.select(recordings).where(recordings.c.session_id == session_id,
                                                        recordings.c.status.in_(ACTIVE_RECORDING)))


async def insert_recording(conn: AsyncConnection, **values: Any) -> Row:
    return dict((await conn.execute(sa.insert(recordings).values(**values).returning(recordings))
                 ).mappings().one())


async def get_recording(conn: AsyncConnection, session_id: uuid.UUID, recording_id: uuid.UUID, *,
                        lock: bool = False) -> Row | None:
    query = sa.select(recordings).where(recordings.c.id == recording_id, recordings.c.session_id == session_id)
    return await _one(conn, query.with_for_update() if lock else query)


async def list_recordings(conn: AsyncConnection, session_id: uuid.UUID, limit: int, offset: int
                          ) -> tuple[list[Row], int]:
    order = (recordings.c.created_at.desc(), recordings.c.id)
    return await _page(conn, recordings, recordings.c.session_id == session_id, order, limit, offset)


async def update_recording(conn: AsyncConnection, recording_id: uuid.UUID, *, only_from: tuple[str, ...],
                           now: dt.datetime, **values: Any) -> Row | None:
    """Change a recording unless it already left the states in `only_from`."""
    query = (sa.update(recordings)
             .where(recordings.c.id == recording_id, recordings.c.status.in_(only_from))
             .values(updated_at=now, **values)
             .returning(recordings))
    return await _one(conn, query)


async def recording_by_egress(conn: AsyncConnection, egress_id: str, *, lock: bool = False) -> Row | None:
    query = sa.select(recordings).where(recordings.c.egress_id == egress_id)
    return await _one(conn, query.with_for_update() if lock else query)


# --- avatars -----------------------------------------------------------------------------

async def replace_avatar(conn: AsyncConnection, table: sa.Table, owner_id: uuid.UUID, *, url: str | None,
                         now: dt.datetime) -> Row | None:
    """Set (url) or clear (None) an uploaded avatar; returns the row as it was before, None if absent."""
    before = await _one(conn, sa.select(table.c.id, table.c.avatar_source, table.c.avatar_url, *(
        [table.c.sex] if "sex" in table.c else [])).where(table.c.id == owner_id).with_for_update())
    if before is None:
        return None
    await conn.execute(sa.update(table).where(table.c.id == owner_id).values(
        avatar_source="user" if url else "system", avatar_url=url, updated_at=now))
    return before


async def display_name(conn: AsyncConnection, role: str, subject_id: uuid.UUID) -> str | None:
    """A participant's name for push texts."""
    table = doctors if role == "doctor" else users
    return (await conn.execute(sa.select(table.c.full_name).where(table.c.id == subject_id))).scalar_one_or_none()
