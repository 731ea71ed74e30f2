"""The doctor dashboard's queries: today's metrics and the doctor's session history."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import connect_sessions, followups, users

s = connect_sessions
_PATIENT_COLUMNS = [users.c.id, users.c.full_name, users.c.age, users.c.sex, users.c.avatar_source,
                    users.c.avatar_url]
_HAS_FOLLOWUP = sa.exists().where(followups.c.parent_session_id == s.c.id)


def _effective_status(now: dt.datetime) -> sa.ColumnElement:
    """A REQUESTED session past its expiry counts as EXPIRED before the sweeper writes it."""
    return sa.case((sa.and_(s.c.status == "REQUESTED", s.c.expires_at <= now), "EXPIRED"), else_=s.c.status)


async def overview_metrics(conn: AsyncConnection, doctor_id: uuid.UUID, now: dt.datetime,
                           day_start: dt.datetime, day_end: dt.datetime) -> dict[str, int]:
    """todays_sessions: consultations started today; ongoing; pending: live requests now;
    missed: requests made today that were rejected or expired."""
    status = _effective_status(now)
    started_today = sa.and_(s.c.started_at >= day_start, s.c.started_at < day_end)
    requested_today = sa.and_(s.c.requested_at >= day_start, s.c.requested_at < day_end)
    row = (await conn.execute(
        sa.select(
            sa.func.count().filter(started_today).label("todays_sessions"),
            sa.func.count().filter(status == "ONGOING").label("ongoing"),
            sa.func.count().filter(status == "REQUESTED").label("pending"),
            sa.func.count().filter(requested_today, status.in_(("EXPIRED", "REJECTED"))).label("missed"),
        ).where(s.c.doctor_id == doctor_id,
                sa.or_(s.c.status.in_(("REQUESTED", "ONGOING")), started_today, requested_today))
    )).mappings().one()
    return {key: int(value) for key, value in row.items()}


def _session_query(now: dt.datetime) -> sa.Select:
    return (
        sa.select(s.c.id, _effective_status(now).label("status"), s.c.category, s.c.symptoms,
                  s.c.rate_per_minute, s.c.requested_at, s.c.expires_at, s.c.started_at, s.c.ended_at,
                  s.c.duration_seconds, s.c.billed_amount, s.c.end_reason,
                  _HAS_FOLLOWUP.label("has_followup"),
                  *[c.label(f"patient_{c.name}") for c in _PATIENT_COLUMNS])
        .join(users, users.c.id == s.c.patient_id)
    )


def _split(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["patient"] = {c.name: out.pop(f"patient_{c.name}") for c in _PATIENT_COLUMNS}
    return out


async def sessions_page(conn: AsyncConnection, doctor_id: uuid.UUID, now: dt.datetime, *, status: str,
                        start: dt.datetime | None, end: dt.datetime | None, has_followup: bool | None,
                        skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The doctor's sessions, newest request first. `status` is an (effective) status or "all";
    `start`/`end` bound `requested_at`."""
    where: list[Any] = [s.c.doctor_id == doctor_id]
    if status != "all":
        where.append(_effective_status(now) == status)
    if start is not None:
        where.append(s.c.requested_at >= start)
    if end is not None:
        where.append(s.c.requested_at < end)
    if has_followup is not None:
        where.append(_HAS_FOLLOWUP if has_followup else ~_HAS_FOLLOWUP)
    total = await conn.scalar(sa.select(sa.func.count()).select_from(s).where(*where))
    rows = (await conn.execute(
        _session_query(now).where(*where)
        .order_by(s.c.requested_at.desc(), s.c.id.desc()).offset(skip).limit(limit)
    )).mappings().all()
    return [_split(r) for r in rows], int(total or 0)


async def recent_sessions(conn: AsyncConnection, doctor_id: uuid.UUID, now: dt.datetime,
                          limit: int) -> tuple[list[dict[str, Any]], int]:
    """Consultations that took place (ONGOING or ENDED), latest start first."""
    where = [s.c.doctor_id == doctor_id, s.c.status.in_(("ONGOING", "ENDED"))]
    total = await conn.scalar(sa.select(sa.func.count()).select_from(s).where(*where))
    rows = (await conn.execute(
        _session_query(now).where(*where).order_by(s.c.started_at.desc(), s.c.id.desc()).limit(limit)
    )).mappings().all()
    return [_split(r) for r in rows], int(total or 0)
