"""Doctor rows: lookups, listings, admin create/update, favourites, the doctor's own settings."""
from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import doctors as rules
from domain.errors import Conflict
from storage import driver
from storage.tables import connect_sessions, doctors, favourites

d = doctors
_PRESENCE_ORDER = sa.case({"ONLINE": 0, "BUSY": 1}, value=d.c.presence_status, else_=2)
_SORT_COLUMNS = {"rate": d.c.rate_per_minute, "rating": d.c.rating, "experience": d.c.years_experience}


def unique_violation(exc: IntegrityError) -> str | None:
    """The name of the unique constraint/index an insert or update hit, if that was the error."""
    cause = getattr(exc.orig, "__cause__", None)
    if type(cause).__name__ == "UniqueViolationError":
        return getattr(cause, "constraint_name", None)
    return None


def favourite_flag(user_id: uuid.UUID | None) -> sa.ColumnElement:
    """`is_favourite` as a column: false for anonymous callers and other roles."""
    if user_id is None:
        return sa.false().label("is_favourite")
    return sa.exists().where(favourites.c.user_id == user_id,
                             favourites.c.doctor_id == d.c.id).label("is_favourite")


def with_flag(user_id: uuid.UUID | None) -> sa.Select:
    return sa.select(d, favourite_flag(user_id))


async def get_doctor(conn: AsyncConnection, doctor_id: uuid.UUID, *, user_id: uuid.UUID | None = None,
                     include_inactive: bool = False, lock: bool = False) -> dict[str, Any] | None:
    query = with_flag(user_id).where(d.c.id == doctor_id)
    if not include_inactive:
        query = query.where(d.c.is_active)
    if lock:
        query = query.with_for_update(of=d)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def get_doctor_by_slug(conn: AsyncConnection, slug: str, *,
                             user_id: uuid.UUID | None = None) -> dict[str, Any] | None:
    row = (await conn.execute(with_flag(user_id).where(d.c.slug == slug, d.c.is_active))).mappings().first()
    return dict(row) if row else None


async def list_doctors(conn: AsyncConnection, *, skip: int, limit: int, user_id: uuid.UUID | None,
                       favourites_first: bool, favourites_only: bool) -> list[dict[str, Any]]:
    """Active doctors: (favourites first,) online before busy before offline, featured, best rated."""
    flag = favourite_flag(user_id)
    query = sa.select(d, flag).where(d.c.is_active)
    if favourites_only:
        query = query.where(flag)
    order: list[Any] = [sa.desc(flag)] if favourites_first else []
    order += [_PRESENCE_ORDER, d.c.is_featured.desc(), d.c.rating.desc(), d.c.full_name, d.c.id]
    rows = (await conn.execute(query.order_by(*order).offset(skip).limit(limit))).mappings().all()
    return [dict(r) for r in rows]


async def all_doctors(conn: AsyncConnection, *, user_id: uuid.UUID | None, status: str | None,
                      category: str | None, available_for: str | None, featured_only: bool,
                      sort_by: str | None, sort_order: str, skip: int, limit: int) -> list[dict[str, Any]]:
    """Filtered and sorted; without sort_by, by name. Ties always fall back to id (stable pages)."""
    query = with_flag(user_id).where(d.c.is_active)
    if status:
        query = query.where(d.c.presence_status == status)
    if category:
        query = query.where(sa.func.lower(d.c.speciality_category) == category.lower())
    if available_for == "chat":
        query = query.where(d.c.chat_enabled)
    elif available_for == "call":
        query = query.where(d.c.call_enabled)
    if featured_only:
        query = query.where(d.c.is_featured)
    key = _SORT_COLUMNS[sort_by] if sort_by else d.c.full_name
    key = key.desc() if sort_order == "desc" else key.asc()
    rows = (await conn.execute(query.order_by(key, d.c.id).offset(skip).limit(limit))).mappings().all()
    return [dict(r) for r in rows]


# --- admin create / update ----------------------------------------------------------------

def _email_conflict(exc: IntegrityError) -> Conflict | None:
    if unique_violation(exc) == "uq_doctors_email":
        return Conflict("A doctor with this email already exists", code="EMAIL_ALREADY_REGISTERED")
    return None


async def _first_free_suffix(conn: AsyncConnection, base: str) -> int:
    taken = (await conn.execute(sa.select(d.c.slug).where(
        sa.or_(d.c.slug == base, d.c.slug.op("~")(f"^{re.escape(base)}-[0-9]+$"))))).scalars().all()
    numbers = [1 if s == base else int(s.rsplit("-", 1)[1]) for s in taken]
    return max(numbers, default=0) + 1


async def create_doctor(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
    """Insert with a unique slug from name + speciality ("dr-ankit-shah-urology", then -2, -3...).

    Race-safe: a slug taken by a concurrent insert makes ON CONFLICT skip, and we try the next.
    A duplicate email is 409.
    """
    base = rules.slug_base(values["full_name"], values["speciality_category"])
    attempt = await _first_free_suffix(conn, base)
    while True:
        try:
            row = (await conn.execute(
                pg_insert(d).values(slug=rules.slug_candidate(base, attempt), **values)
                .on_conflict_do_nothing(index_elements=[d.c.slug]).returning(d)
            )).mappings().first()
        except IntegrityError as exc:
            raise (_email_conflict(exc) or exc) from None
        if row is not None:
            return dict(row)
        attempt += 1


async def update_doctor(conn: AsyncConnection, doctor_id: uuid.UUID, values: dict[str, Any], *,
                        include_inactive: bool = True) -> dict[str, Any] | None:
    """Partial update; returns the row (None if no such doctor). A duplicate email is 409."""
    query = sa.update(d).where(d.c.id == doctor_id)
    if not include_inactive:
        query = query.where(d.c.is_active)
    try:
        row = (await conn.execute(
            query.values(**values, updated_at=sa.func.now()).returning(d))).mappings().first()
    except IntegrityError as exc:
        raise (_email_conflict(exc) or exc) from None
    return dict(row) if row else None


# --- the doctor's own presence ------------------------------------------------------------

async def has_ongoing_session(conn: AsyncConnection, doctor_id: uuid.UUID) -> bool:
    s = connect_sessions
    return bool(await conn.scalar(sa.select(sa.exists().where(
        s.c.doctor_id == doctor_id, s.c.status == "ONGOING"))))


async def set_presence(conn: AsyncConnection, doctor_id: uuid.UUID, wanted: str) -> dict[str, Any] | None:
    """Apply the doctor's request under a row lock (the server's BUSY steps lock the same row)."""
    doctor = await get_doctor(conn, doctor_id, lock=True)
    if doctor is None:
        return None
    target = rules.next_presence(doctor["presence_status"], wanted,
                                 has_ongoing_session=await has_ongoing_session(conn, doctor_id))
    if target == doctor["presence_status"]:
        return doctor
    return await update_doctor(conn, doctor_id, {"presence_status": target})


# --- favourites ---------------------------------------------------------------------------

async def set_favourite(conn: AsyncConnection, user_id: uuid.UUID, doctor_id: uuid.UUID, add: bool) -> None:
    """Idempotent: adding twice keeps one row, removing a non-favourite is a no-op."""
    if add:
        await conn.execute(pg_insert(favourites).values(user_id=user_id, doctor_id=doctor_id)
                           .on_conflict_do_nothing())
    else:
        await conn.execute(sa.delete(favourites).where(favourites.c.user_id == user_id,
                                                       favourites.c.doctor_id == doctor_id))


async def favourites_page(conn: AsyncConnection, user_id: uuid.UUID, skip: int,
                          limit: int) -> tuple[list[dict[str, Any]], int]:
    """The user's favourite active doctors, most recently added first."""
    f = favourites
    joined = f.join(d, d.c.id == f.c.doctor_id)
    where = [f.c.user_id == user_id, d.c.is_active]
    total = await conn.scalar(sa.select(sa.func.count()).select_from(joined).where(*where))
    rows = (await conn.execute(
        sa.select(d, sa.true().label("is_favourite")).select_from(joined).where(*where)
        .order_by(f.c.created_at.desc(), d.c.id).offset(skip).limit(limit)
    )).mappings().all()
    return [dict(r) for r in rows], int(total or 0)



# --- what sessions change on the doctor's row (SQL text on the driver) -------------------------

_NAME = "SELECT full_name FROM doctors WHERE id = $1"
_MARK_BUSY = (f"UPDATE doctors SET presence_status = '{rules.BUSY}', updated_at = $2 "
              f"WHERE id = $1 AND presence_status = '{rules.ONLINE}'")
# FOR NO KEY UPDATE: serialises presence changes without blocking new requests' FK checks.
_LOCK_FOR_SETTLEMENT = "SELECT full_name, presence_status FROM doctors WHERE id = $1 FOR NO KEY UPDATE"
_RECORD_SESSION = """UPDATE doctors SET earnings_paise = earnings_paise + $2, total_sessions = total_sessions + 1,
    presence_status = $3, updated_at = $4 WHERE id = $1"""


async def doctor_name(conn: AsyncConnection, doctor_id: uuid.UUID) -> str | None:
    return await driver.fetchval(conn, _NAME, doctor_id)


async def mark_busy(conn: AsyncConnection, doctor_id: uuid.UUID, now: dt.datetime) -> None:
    """ONLINE → BUSY (a session of theirs went ONGOING); any other presence stays as it is."""
    await driver.execute(conn, _MARK_BUSY, doctor_id, now, begin=True)


async def lock_for_settlement(conn: AsyncConnection, doctor_id: uuid.UUID) -> dict[str, Any]:
    row = await driver.fetchrow(conn, _LOCK_FOR_SETTLEMENT, doctor_id, begin=True)
    assert row is not None  # sessions reference their doctor
    return dict(row)


async def record_session(conn: AsyncConnection, doctor_id: uuid.UUID, *, earned: int, presence: str,
                         now: dt.datetime) -> None:
    await driver.execute(conn, _RECORD_SESSION, doctor_id, earned, presence, now, begin=True)
