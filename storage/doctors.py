"""Doctor rows: lookups, listings, admin create/update, favourites, the doctor's own settings.

SQL text on the driver (storage.driver). Rows only: slugs, presence and who may change what are
domain.doctors rules applied by services.doctors; a duplicate email is `EmailTaken`, which the use
case answers with 409.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import asyncpg
from storage.pool import Connection

from domain import doctors as rules
from domain.sessions import ONGOING
from storage import driver
from storage.tables import doctors

Row = dict[str, Any]

# Every column but the password hash, which only the login reads.
FIELDS = ", ".join(f"d.{c.name}" for c in doctors.c if c.name != "password_hash")


def _favourite(param: int) -> str:
    """`is_favourite` for the client `$param` (NULL: anonymous or another role → false)."""
    return f"EXISTS (SELECT 1 FROM doctor_favourites f WHERE f.user_id = ${param} AND f.doctor_id = d.id)"


class EmailTaken(Exception):
    """Another doctor already has this email (unique index uq_doctors_email)."""


def unique_violation(exc: BaseException) -> str | None:
    """The name of the unique constraint/index a driver statement hit, if that was the error."""
    return exc.constraint_name if isinstance(exc, asyncpg.UniqueViolationError) else None


def _email_taken(exc: BaseException) -> bool:
    return unique_violation(exc) == "uq_doctors_email"


# --- reads --------------------------------------------------------------------------------

_BY_ID = f"SELECT {FIELDS}, {_favourite(2)} AS is_favourite FROM doctors d WHERE d.id = $1 AND ($3 OR d.is_active)"
_BY_SLUG = f"SELECT {FIELDS}, {_favourite(2)} AS is_favourite FROM doctors d WHERE d.slug = $1 AND d.is_active"
_EXISTS = "SELECT EXISTS (SELECT 1 FROM doctors WHERE id = $1 AND ($2 OR is_active))"
_PRESENCE_ORDER = f"CASE d.presence_status WHEN '{rules.ONLINE}' THEN 0 WHEN '{rules.BUSY}' THEN 1 ELSE 2 END"

# Active doctors: (favourites first,) online before busy before offline, featured, best rated.
_LIST = f"""
SELECT * FROM (SELECT {FIELDS}, {_favourite(1)} AS is_favourite FROM doctors d WHERE d.is_active) d
WHERE (NOT $2 OR d.is_favourite)
ORDER BY ($3 AND d.is_favourite) DESC, {_PRESENCE_ORDER}, d.is_featured DESC, d.rating DESC, d.full_name, d.id
OFFSET $4 LIMIT $5"""

_ALL_WHERE = """d.is_active
  AND ($2::text IS NULL OR d.presence_status = $2)
  AND ($3::text IS NULL OR lower(d.speciality_category) = $3)
  AND (NOT $4 OR d.chat_enabled) AND (NOT $5 OR d.call_enabled) AND (NOT $6 OR d.is_featured)"""
_SORT_KEYS = {None: "d.full_name", "rate": "d.rate_per_minute", "rating": "d.rating",
              "experience": "d.years_experience"}
# One prepared statement per (sort_by, sort_order) the query schema allows; ties always fall back
# to id ascending (stable pages).
ALL_DOCTORS = {
    (key, order): f"""SELECT {FIELDS}, {_favourite(1)} AS is_favourite FROM doctors d WHERE {_ALL_WHERE}
ORDER BY {column} {order.upper()}, d.id OFFSET $7 LIMIT $8"""
    for key, column in _SORT_KEYS.items() for order in ("asc", "desc")
}

_FAVOURITES_FROM = "FROM doctor_favourites f JOIN doctors d ON d.id = f.doctor_id WHERE f.user_id = $1 AND d.is_active"
_FAVOURITES_COUNT = f"SELECT count(*) {_FAVOURITES_FROM}"
_FAVOURITES_PAGE = (f"SELECT {FIELDS}, true AS is_favourite {_FAVOURITES_FROM} "
                    "ORDER BY f.created_at DESC, d.id OFFSET $2 LIMIT $3")


async def get_doctor(conn: Connection, doctor_id: uuid.UUID, *, user_id: uuid.UUID | None = None,
                     include_inactive: bool = False) -> Row | None:
    row = await driver.fetchrow(conn, _BY_ID, doctor_id, user_id, include_inactive)
    return dict(row) if row else None


async def get_doctor_by_slug(conn: Connection, slug: str, *, user_id: uuid.UUID | None = None) -> Row | None:
    row = await driver.fetchrow(conn, _BY_SLUG, slug, user_id)
    return dict(row) if row else None


async def doctor_exists(conn: Connection, doctor_id: uuid.UUID, *, include_inactive: bool = False) -> bool:
    return bool(await driver.fetchval(conn, _EXISTS, doctor_id, include_inactive))


async def list_doctors(conn: Connection, *, skip: int, limit: int, user_id: uuid.UUID | None,
                       favourites_first: bool, favourites_only: bool) -> list[Row]:
    """Active doctors: (favourites first,) online before busy before offline, featured, best rated."""
    rows = await driver.fetch(conn, _LIST, user_id, favourites_only, favourites_first, skip, limit)
    return [dict(r) for r in rows]


async def all_doctors(conn: Connection, *, user_id: uuid.UUID | None, status: str | None,
                      category: str | None, available_for: str | None, featured_only: bool,
                      sort_by: str | None, sort_order: str, skip: int, limit: int) -> list[Row]:
    """Filtered and sorted; without sort_by, by name. Ties always fall back to id (stable pages)."""
    query = ALL_DOCTORS[(sort_by, sort_order)]  # validated options only (KeyError otherwise)
    rows = await driver.fetch(conn, query, user_id, status or None, category.lower() if category else None,
                              available_for == "chat",
                              available_for == "call", featured_only, skip, limit)
    return [dict(r) for r in rows]


async def favourites_page(conn: Connection, user_id: uuid.UUID, skip: int, limit: int) -> tuple[list[Row], int]:
    """The user's favourite active doctors, most recently added first."""
    total = await driver.fetchval(conn, _FAVOURITES_COUNT, user_id)
    rows = await driver.fetch(conn, _FAVOURITES_PAGE, user_id, skip, limit)
    return [dict(r) for r in rows], int(total or 0)


# --- admin create / update ----------------------------------------------------------------

_TAKEN_SLUGS = "SELECT slug FROM doctors WHERE slug = $1 OR slug ~ $2"
_CREATE_COLUMNS = ("email", "password_hash", "full_name", "speciality_category", "degrees", "languages",
                   "years_experience", "about_short", "registration_number", "rate_per_minute", "is_featured",
                   "is_active", "chat_enabled", "call_enabled")
# A slug taken meanwhile (a concurrent create) is no row: the caller tries the next one.
_INSERT = f"""
INSERT INTO doctors AS d (slug, {", ".join(_CREATE_COLUMNS)})
VALUES ($1, {", ".join(f"${n}" for n in range(2, len(_CREATE_COLUMNS) + 2))})
ON CONFLICT (slug) DO NOTHING
RETURNING {FIELDS}"""
_OPTIONAL_ON_CREATE = {"about_short": None, "registration_number": None}

# Partial update: a NULL leaves the column as it is (none of these can be set to null through the
# API), except about_short, which the flag $5 says to set (to $6, null included).
_UPDATE = f"""
UPDATE doctors AS d SET
    full_name = coalesce($3, full_name),
    years_experience = coalesce($4, years_experience),
    about_short = CASE WHEN $5 THEN $6 ELSE about_short END,
    degrees = coalesce($7, degrees),
    speciality_category = coalesce($8, speciality_category),
    languages = coalesce($9, languages),
    registration_number = coalesce($10, registration_number),
    email = coalesce($11, email),
    password_hash = coalesce($12, password_hash),
    rate_per_minute = coalesce($13, rate_per_minute),
    is_featured = coalesce($14, is_featured),
    is_active = coalesce($15, is_active),
    chat_enabled = coalesce($16, chat_enabled),
    call_enabled = coalesce($17, call_enabled),
    presence_status = coalesce($18, presence_status),
    updated_at = now()
WHERE d.id = $1 AND ($2 OR d.is_active)
RETURNING {FIELDS}"""
_UPDATABLE = ("full_name", "years_experience", "about_short", "degrees", "speciality_category", "languages",
              "registration_number", "email", "password_hash", "rate_per_minute", "is_featured", "is_active",
              "chat_enabled", "call_enabled", "presence_status")
_SET_WITH_FLAG = frozenset({"about_short"})  # nullable through the API: a flag says "set it"


async def taken_slugs(conn: Connection, base: str) -> list[str]:
    """The slugs in use that are `base` or `base-<n>`."""
    rows = await driver.fetch(conn, _TAKEN_SLUGS, base, f"^{re.escape(base)}-[0-9]+$")
    return [r["slug"] for r in rows]


async def insert_doctor(conn: Connection, slug: str, values: dict[str, Any]) -> Row | None:
    """The new doctor with this slug; None if the slug is taken. EmailTaken for a duplicate email."""
    values = _OPTIONAL_ON_CREATE | values
    try:
        row = await driver.fetchrow(conn, _INSERT, slug, *(values[c] for c in _CREATE_COLUMNS), begin=True)
    except asyncpg.UniqueViolationError as exc:
        if _email_taken(exc):
            raise EmailTaken() from None
        raise
    return dict(row) if row else None


async def update_doctor(conn: Connection, doctor_id: uuid.UUID, changes: dict[str, Any], *,
                        include_inactive: bool = True) -> Row | None:
    """Set the columns in `changes` (see _UPDATABLE); the row, or None if no such (active) doctor.
    EmailTaken for a duplicate email."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    args: list[Any] = []
    for column in _UPDATABLE:
        if column in _SET_WITH_FLAG:
            args.append(column in changes)
        args.append(changes.get(column))
    try:
        row = await driver.fetchrow(conn, _UPDATE, doctor_id, include_inactive, *args)
    except asyncpg.UniqueViolationError as exc:
        if _email_taken(exc):
            raise EmailTaken() from None
        raise
    return dict(row) if row else None


# --- the doctor's own presence and availability --------------------------------------------

_AVAILABILITY = "d.presence_status, d.chat_enabled, d.call_enabled"
_HAS_ONGOING = f"SELECT EXISTS (SELECT 1 FROM connect_sessions WHERE doctor_id = $1 AND status = '{ONGOING}')"
# FOR NO KEY UPDATE, like the server's BUSY steps (storage.sessions / lock_for_settlement below):
# presence changes are serialised without blocking new requests' foreign-key checks.
_LOCK_PRESENCE = f"SELECT {_AVAILABILITY} FROM doctors d WHERE d.id = $1 AND d.is_active FOR NO KEY UPDATE"
_SET_PRESENCE = f"UPDATE doctors AS d SET presence_status = $2, updated_at = now() WHERE d.id = $1 RETURNING {_AVAILABILITY}"
_SET_AVAILABILITY = f"""UPDATE doctors AS d SET chat_enabled = coalesce($2, chat_enabled),
    call_enabled = coalesce($3, call_enabled), updated_at = now()
WHERE d.id = $1 AND d.is_active RETURNING {_AVAILABILITY}"""


async def has_ongoing_session(conn: Connection, doctor_id: uuid.UUID) -> bool:
    return bool(await driver.fetchval(conn, _HAS_ONGOING, doctor_id))


async def lock_presence(conn: Connection, doctor_id: uuid.UUID) -> Row | None:
    """The active doctor's presence and switches, row locked for this transaction."""
    row = await driver.fetchrow(conn, _LOCK_PRESENCE, doctor_id, begin=True)
    return dict(row) if row else None


async def set_presence(conn: Connection, doctor_id: uuid.UUID, presence: str) -> Row:
    row = await driver.fetchrow(conn, _SET_PRESENCE, doctor_id, presence, begin=True)
    assert row is not None  # the caller holds the row lock
    return dict(row)


async def set_availability(conn: Connection, doctor_id: uuid.UUID, *, chat_enabled: bool | None,
                           call_enabled: bool | None) -> Row | None:
    """Switch chat/call (None: as it is); presence and switches, or None if no such active doctor."""
    row = await driver.fetchrow(conn, _SET_AVAILABILITY, doctor_id, chat_enabled, call_enabled)
    return dict(row) if row else None


# --- favourites ---------------------------------------------------------------------------

_ADD_FAVOURITE = "INSERT INTO doctor_favourites (user_id, doctor_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
_REMOVE_FAVOURITE = "DELETE FROM doctor_favourites WHERE user_id = $1 AND doctor_id = $2"


async def add_favourite(conn: Connection, user_id: uuid.UUID, doctor_id: uuid.UUID) -> None:
    """Idempotent: adding twice keeps one row."""
    await driver.execute(conn, _ADD_FAVOURITE, user_id, doctor_id, begin=True)


async def remove_favourite(conn: Connection, user_id: uuid.UUID, doctor_id: uuid.UUID) -> None:
    """Idempotent: removing a non-favourite is a no-op."""
    await driver.execute(conn, _REMOVE_FAVOURITE, user_id, doctor_id, begin=True)


# --- demo rows ----------------------------------------------------------------------------

_DEMO_COLUMNS = ("email", "password_hash", "full_name", "slug", "speciality_category", "degrees", "languages",
                 "years_experience", "rate_per_minute", "rating", "is_featured", "presence_status",
                 "registration_number", "about_short")
_INSERT_DEMO = (f"INSERT INTO doctors ({', '.join(_DEMO_COLUMNS)}) "
                f"VALUES ({', '.join(f'${n}' for n in range(1, len(_DEMO_COLUMNS) + 1))}) ON CONFLICT DO NOTHING")


async def insert_demo_doctor(conn: Connection, values: dict[str, Any]) -> None:
    """A demo doctor, unless one with its email or slug exists."""
    await driver.execute(conn, _INSERT_DEMO, *(values[c] for c in _DEMO_COLUMNS), begin=True)


# --- what sessions change on the doctor's row (SQL text on the driver) -------------------------

_NAME = "SELECT full_name FROM doctors WHERE id = $1"
_MARK_BUSY = (f"UPDATE doctors SET presence_status = '{rules.BUSY}', updated_at = $2 "
              f"WHERE id = $1 AND presence_status = '{rules.ONLINE}'")
# FOR NO KEY UPDATE: serialises presence changes without blocking new requests' FK checks.
_LOCK_FOR_SETTLEMENT = "SELECT full_name, presence_status FROM doctors WHERE id = $1 FOR NO KEY UPDATE"
_RECORD_SESSION = """UPDATE doctors SET earnings_paise = earnings_paise + $2, total_sessions = total_sessions + 1,
    presence_status = $3, updated_at = $4 WHERE id = $1"""


async def doctor_name(conn: Connection, doctor_id: uuid.UUID) -> str | None:
    return await driver.fetchval(conn, _NAME, doctor_id)


async def mark_busy(conn: Connection, doctor_id: uuid.UUID, now: dt.datetime) -> None:
    """ONLINE → BUSY (a session of theirs went ONGOING); any other presence stays as it is."""
    await driver.execute(conn, _MARK_BUSY, doctor_id, now, begin=True)


async def lock_for_settlement(conn: Connection, doctor_id: uuid.UUID) -> dict[str, Any]:
    row = await driver.fetchrow(conn, _LOCK_FOR_SETTLEMENT, doctor_id, begin=True)
    assert row is not None  # sessions reference their doctor
    return dict(row)


async def record_session(conn: Connection, doctor_id: uuid.UUID, *, earned: int, presence: str,
                         now: dt.datetime) -> None:
    await driver.execute(conn, _RECORD_SESSION, doctor_id, earned, presence, now, begin=True)
