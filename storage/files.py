"""Rows of attachments, session reports, recordings and avatars: SQL text on the driver
(storage.driver), prepared once per connection. The rules live in domain.files / domain.avatars and
the use cases in services.attachments, services.reports, services.recordings and services.avatars.

State changes are conditional updates (`... WHERE status = 'PENDING'`), so two concurrent
completes or deletes cannot both win; each returns the row, or None when it was not in the
expected state. Statuses are written into the SQL text (from domain.files), not bound, so generic
plans can use the partial indexes defined on them.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Iterable

from storage.pool import Connection

from domain.files import (ACTIVE_RECORDING, DELETED, PENDING, RECORDING, REPORT, RUNNING_RECORDING, STARTING,
                          UPLOADED, RecordingStatus, sql_list)
from domain.roles import Role
from storage import driver
from storage.tables import attachments, recordings, session_reports

Row = dict[str, Any]


def _fields(table: Any) -> str:
    return ", ".join(c.name for c in table.c)


def _row(record: Any) -> Row | None:
    return dict(record) if record is not None else None


async def _page(conn: Connection, count: str, page: str, *args: Any, limit: int,
                offset: int) -> tuple[list[Row], int]:
    total = await driver.fetchval(conn, count, *args)
    rows = await driver.fetch(conn, page, *args, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


# --- attachments -------------------------------------------------------------------------

_ATTACHMENT = _fields(attachments)
_INSERT_ATTACHMENT = f"""
INSERT INTO attachments (id, owner_role, owner_id, scope_type, scope_id, session_id, filename, content_type,
                         size_bytes, upload_mode, status, container, blob_name, verified_size_bytes, uploaded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
RETURNING {_ATTACHMENT}"""
_GET_ATTACHMENT = {lock: f"SELECT {_ATTACHMENT} FROM attachments WHERE id = $1{' FOR UPDATE' if lock else ''}"
                   for lock in (False, True)}
# One scope's uploaded attachments ($3: only the owner's, for PROFILE scopes), oldest first.
_IN_SCOPE = f"status = '{UPLOADED}' AND scope_type = $1 AND scope_id = $2 AND ($3::uuid IS NULL OR owner_id = $3)"
_COUNT_ATTACHMENTS = f"SELECT count(*) FROM attachments WHERE {_IN_SCOPE}"
_ATTACHMENTS_PAGE = (f"SELECT {_ATTACHMENT} FROM attachments WHERE {_IN_SCOPE} "
                     "ORDER BY created_at, id LIMIT $4 OFFSET $5")
_ATTACHMENT_UPLOADED = (f"UPDATE attachments SET status = '{UPLOADED}', verified_size_bytes = $2, uploaded_at = $3 "
                        f"WHERE id = $1 AND status = '{PENDING}' RETURNING {_ATTACHMENT}")
_ATTACHMENT_DELETED = (f"UPDATE attachments SET status = '{DELETED}', deleted_at = $2 "
                       f"WHERE id = $1 AND status <> '{DELETED}' RETURNING {_ATTACHMENT}")
# The connect session a REPORT / RECORDING scope belongs to.
_SCOPE_SESSION = {
    REPORT: f"SELECT session_id FROM session_reports WHERE id = $1 AND status <> '{DELETED}'",
    RECORDING: "SELECT session_id FROM recordings WHERE id = $1",
}


async def insert_attachment(conn: Connection, *, attachment_id: uuid.UUID, owner_role: str,
                            owner_id: uuid.UUID, scope_type: str, scope_id: uuid.UUID,
                            session_id: uuid.UUID | None, filename: str, content_type: str, size_bytes: int,
                            upload_mode: str, container: str, blob_name: str, status: str = PENDING,
                            verified_size_bytes: int | None = None, uploaded_at: dt.datetime | None = None) -> Row:
    row = await driver.fetchrow(
        conn, _INSERT_ATTACHMENT, attachment_id, owner_role, owner_id, scope_type, scope_id, session_id, filename,
        content_type, size_bytes, upload_mode, status, container, blob_name, verified_size_bytes, uploaded_at,
        begin=True)
    return dict(row)


async def get_attachment(conn: Connection, attachment_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    return _row(await driver.fetchrow(conn, _GET_ATTACHMENT[lock], attachment_id, begin=lock))


async def list_attachments(conn: Connection, *, scope_type: str, scope_id: uuid.UUID,
                           owner_id: uuid.UUID | None = None, limit: int, offset: int) -> tuple[list[Row], int]:
    """Uploaded attachments of one scope (only `owner_id`'s if given), oldest first, and their count."""
    return await _page(conn, _COUNT_ATTACHMENTS, _ATTACHMENTS_PAGE, scope_type, scope_id, owner_id,
                       limit=limit, offset=offset)


async def mark_attachment_uploaded(conn: Connection, attachment_id: uuid.UUID, verified_size: int,
                                   now: dt.datetime) -> Row | None:
    return _row(await driver.fetchrow(conn, _ATTACHMENT_UPLOADED, attachment_id, verified_size, now, begin=True))


async def mark_attachment_deleted(conn: Connection, attachment_id: uuid.UUID, now: dt.datetime) -> Row | None:
    return _row(await driver.fetchrow(conn, _ATTACHMENT_DELETED, attachment_id, now, begin=True))


async def session_of_scope(conn: Connection, scope_type: str, scope_id: uuid.UUID) -> uuid.UUID | None:
    """The connect session a REPORT or RECORDING scope belongs to (None: no such object)."""
    return await driver.fetchval(conn, _SCOPE_SESSION[scope_type], scope_id)


# --- session reports ---------------------------------------------------------------------

_REPORT = _fields(session_reports)
_INSERT_REPORT = f"""
INSERT INTO session_reports (id, session_id, uploader_id, original_filename, mime_type, size_bytes, container,
                             blob_name)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING {_REPORT}"""
_GET_REPORT = {lock: (f"SELECT {_REPORT} FROM session_reports WHERE id = $1 AND session_id = $2"
                      f"{' FOR UPDATE' if lock else ''}") for lock in (False, True)}
_COUNT_REPORTS = f"SELECT count(*) FROM session_reports WHERE session_id = $1 AND status = '{UPLOADED}'"
_REPORTS_PAGE = (f"SELECT {_REPORT} FROM session_reports WHERE session_id = $1 AND status = '{UPLOADED}' "
                 "ORDER BY created_at DESC, id LIMIT $2 OFFSET $3")
_REPORT_UPLOADED = (f"UPDATE session_reports SET status = '{UPLOADED}', verified_size_bytes = $2, "
                    f"verified_mime_type = $3, uploaded_at = $4 WHERE id = $1 AND status = '{PENDING}' "
                    f"RETURNING {_REPORT}")
_REPORT_DELETED = (f"UPDATE session_reports SET status = '{DELETED}', deleted_at = $2 "
                   f"WHERE id = $1 AND status <> '{DELETED}' RETURNING {_REPORT}")


async def insert_report(conn: Connection, *, report_id: uuid.UUID, session_id: uuid.UUID,
                        uploader_id: uuid.UUID, original_filename: str, mime_type: str, size_bytes: int,
                        container: str, blob_name: str) -> Row:
    row = await driver.fetchrow(conn, _INSERT_REPORT, report_id, session_id, uploader_id, original_filename,
                                mime_type, size_bytes, container, blob_name, begin=True)
    return dict(row)


async def get_report(conn: Connection, session_id: uuid.UUID, report_id: uuid.UUID, *,
                     lock: bool = False) -> Row | None:
    return _row(await driver.fetchrow(conn, _GET_REPORT[lock], report_id, session_id, begin=lock))


async def list_reports(conn: Connection, session_id: uuid.UUID, limit: int, offset: int
                       ) -> tuple[list[Row], int]:
    """The session's uploaded reports, newest first, and their count."""
    return await _page(conn, _COUNT_REPORTS, _REPORTS_PAGE, session_id, limit=limit, offset=offset)


async def mark_report_uploaded(conn: Connection, report_id: uuid.UUID, *, size: int, mime_type: str,
                               now: dt.datetime) -> Row | None:
    return _row(await driver.fetchrow(conn, _REPORT_UPLOADED, report_id, size, mime_type, now, begin=True))


async def mark_report_deleted(conn: Connection, report_id: uuid.UUID, now: dt.datetime) -> Row | None:
    return _row(await driver.fetchrow(conn, _REPORT_DELETED, report_id, now, begin=True))


# --- recordings --------------------------------------------------------------------------

_RECORDING = _fields(recordings)
_ACTIVE_RECORDING = (f"SELECT {_RECORDING} FROM recordings "
                     f"WHERE session_id = $1 AND status IN ({sql_list(ACTIVE_RECORDING)})")
_INSERT_RECORDING = f"""
INSERT INTO recordings (id, session_id, room_name, status, started_by_role, started_by_id, container, blob_name)
VALUES ($1, $2, $3, '{STARTING}', $4, $5, $6, $7)
RETURNING {_RECORDING}"""
_GET_RECORDING = f"SELECT {_RECORDING} FROM recordings WHERE id = $1 AND session_id = $2"
_COUNT_RECORDINGS = "SELECT count(*) FROM recordings WHERE session_id = $1"
_RECORDINGS_PAGE = (f"SELECT {_RECORDING} FROM recordings WHERE session_id = $1 "
                    "ORDER BY created_at DESC, id LIMIT $2 OFFSET $3")
_BY_EGRESS = {lock: f"SELECT {_RECORDING} FROM recordings WHERE egress_id = $1{' FOR UPDATE' if lock else ''}"
              for lock in (False, True)}


def _update_recording(only_from: Iterable[RecordingStatus]) -> str:
    # Columns left NULL in the arguments keep their value. A report's file fields come together
    # (file_location is set whenever they are): size and duration follow it, even to NULL.
    return f"""
UPDATE recordings SET status = $2, updated_at = $3,
    egress_id = coalesce($4, egress_id),
    started_at = coalesce($5, started_at),
    stop_requested_at = coalesce($6, stop_requested_at),
    ended_at = coalesce($7, ended_at),
    file_location = coalesce($8, file_location),
    size_bytes = CASE WHEN $8::text IS NULL THEN size_bytes ELSE $9::bigint END,
    duration_seconds = CASE WHEN $8::text IS NULL THEN duration_seconds ELSE $10::double precision END,
    error = coalesce($11, error)
WHERE id = $1 AND status IN ({sql_list(only_from)})
RETURNING {_RECORDING}"""


# A change of a recording unless it already left these states (each a prepared variant).
_UPDATE_RECORDING = {states: _update_recording(states)
                     for states in ((STARTING,), ACTIVE_RECORDING, RUNNING_RECORDING)}


async def active_recording(conn: Connection, session_id: uuid.UUID) -> Row | None:
    return _row(await driver.fetchrow(conn, _ACTIVE_RECORDING, session_id))


async def insert_recording(conn: Connection, *, recording_id: uuid.UUID, session_id: uuid.UUID,
                           room_name: str, started_by_role: str, started_by_id: uuid.UUID, container: str,
                           blob_name: str) -> Row:
    """A STARTING recording."""
    row = await driver.fetchrow(conn, _INSERT_RECORDING, recording_id, session_id, room_name, started_by_role,
                                started_by_id, container, blob_name, begin=True)
    return dict(row)


async def get_recording(conn: Connection, session_id: uuid.UUID, recording_id: uuid.UUID) -> Row | None:
    return _row(await driver.fetchrow(conn, _GET_RECORDING, recording_id, session_id))


async def list_recordings(conn: Connection, session_id: uuid.UUID, limit: int, offset: int
                          ) -> tuple[list[Row], int]:
    """The session's recordings, newest first, and their count."""
    return await _page(conn, _COUNT_RECORDINGS, _RECORDINGS_PAGE, session_id, limit=limit, offset=offset)


async def update_recording(conn: Connection, recording_id: uuid.UUID, *, only_from: tuple[RecordingStatus, ...],
                           now: dt.datetime, status: str, egress_id: str | None = None,
                           started_at: dt.datetime | None = None, stop_requested_at: dt.datetime | None = None,
                           ended_at: dt.datetime | None = None, file_location: str | None = None,
                           size_bytes: int | None = None, duration_seconds: float | None = None,
                           error: str | None = None) -> Row | None:
    """Change a recording unless it already left the states in `only_from` (None then)."""
    return _row(await driver.fetchrow(
        conn, _UPDATE_RECORDING[only_from], recording_id, status, now, egress_id, started_at, stop_requested_at,
        ended_at, file_location, size_bytes, duration_seconds, error, begin=True))


async def recording_by_egress(conn: Connection, egress_id: str, *, lock: bool = False) -> Row | None:
    return _row(await driver.fetchrow(conn, _BY_EGRESS[lock], egress_id, begin=lock))


# --- avatars and names ---------------------------------------------------------------------

_ACCOUNT_TABLE = {Role.CLIENT: "users", Role.DOCTOR: "doctors"}
# The avatar as it was, locked (doctors have no sex column: NULL).
_LOCK_AVATAR = {
    Role.CLIENT: "SELECT id, avatar_source, avatar_url, sex FROM users WHERE id = $1 FOR UPDATE",
    Role.DOCTOR: "SELECT id, avatar_source, avatar_url, NULL::text AS sex FROM doctors WHERE id = $1 FOR UPDATE",
}
_SET_AVATAR = {role: f"UPDATE {table} SET avatar_source = $2, avatar_url = $3, updated_at = $4 WHERE id = $1"
               for role, table in _ACCOUNT_TABLE.items()}
_NAME = {role: f"SELECT full_name FROM {table} WHERE id = $1" for role, table in _ACCOUNT_TABLE.items()}


async def lock_avatar(conn: Connection, role: str, owner_id: uuid.UUID) -> Row | None:
    """The account's avatar (id, avatar_source, avatar_url, sex) under a row lock; None if absent."""
    return _row(await driver.fetchrow(conn, _LOCK_AVATAR[Role(role)], owner_id, begin=True))


async def set_avatar(conn: Connection, role: str, owner_id: uuid.UUID, *, source: str, url: str | None,
                     now: dt.datetime) -> None:
    await driver.execute(conn, _SET_AVATAR[Role(role)], owner_id, source, url, now, begin=True)


async def display_name(conn: Connection, role: str, subject_id: uuid.UUID) -> str | None:
    """A participant's name for push texts."""
    return await driver.fetchval(conn, _NAME[Role(role)], subject_id)
