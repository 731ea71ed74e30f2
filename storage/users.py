"""Patients (users): found or created at OTP login, profile reads and partial updates (SQL text on
the driver)."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from storage import driver
from storage.tables import users

Row = dict[str, Any]
PROFILE_COLUMNS = ("full_name", "email", "age", "sex", "height_cm", "weight_kg")
_FIELDS = ", ".join(c.name for c in users.c)

_GET = f"SELECT {_FIELDS} FROM users WHERE id = $1"
_EXISTS = "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)"
_BY_PHONE = f"SELECT {_FIELDS} FROM users WHERE phone = $1"
# Two concurrent first logins of one phone end with one user.
_CREATE_ON_LOGIN = (f"INSERT INTO users (phone, full_name, is_phone_verified, created_at, updated_at) "
                    f"VALUES ($1, $2, true, $3, $3) ON CONFLICT (phone) DO NOTHING RETURNING {_FIELDS}")
# A user who exists without a name (seeded, or created before naming) takes the first one given.
_NAME_ON_LOGIN = (f"UPDATE users SET full_name = $2, updated_at = $3 WHERE phone = $1 AND full_name IS NULL "
                  f"RETURNING {_FIELDS}")
# Partial update: each column is set (null included) when its flag is true. The API never nulls
# full_name, but the statement does not need to know that.
_UPDATE_PROFILE = ("UPDATE users SET "
                   + ", ".join(f"{c} = CASE WHEN ${2 * i + 2} THEN ${2 * i + 3} ELSE {c} END"
                               for i, c in enumerate(PROFILE_COLUMNS))
                   + f", updated_at = ${2 * len(PROFILE_COLUMNS) + 2} WHERE id = $1 RETURNING {_FIELDS}")
# The demo patients of the OTP test numbers (gateway.seed): created if missing.
_ENSURE_BY_PHONE = "INSERT INTO users (phone) VALUES ($1) ON CONFLICT (phone) DO NOTHING"
_ID_AND_WALLET = ("SELECT u.id, EXISTS (SELECT 1 FROM wallets w WHERE w.user_id = u.id) AS has_wallet "
                  "FROM users u WHERE u.phone = $1")


async def get_user(conn: Connection, user_id: uuid.UUID) -> Row | None:
    row = await driver.fetchrow(conn, _GET, user_id)
    return dict(row) if row else None


async def user_exists(conn: Connection, user_id: uuid.UUID) -> bool:
    return bool(await driver.fetchval(conn, _EXISTS, user_id))


async def login_user(conn: Connection, phone: str, full_name: str | None,
                     now: dt.datetime) -> tuple[Row, bool]:
    """The user with this phone, created on first login; returns (user, created)."""
    created = await driver.fetchrow(conn, _CREATE_ON_LOGIN, phone, full_name, now, begin=True)
    if created is not None:
        return dict(created), True
    if full_name:
        named = await driver.fetchrow(conn, _NAME_ON_LOGIN, phone, full_name, now, begin=True)
        if named is not None:
            return dict(named), False
    existing = await driver.fetchrow(conn, _BY_PHONE, phone)
    assert existing is not None  # the insert found it
    return dict(existing), False


async def update_profile(conn: Connection, user_id: uuid.UUID, changes: dict[str, Any],
                         now: dt.datetime) -> Row | None:
    """Set the profile columns present in `changes` (others are ignored); None if no such user."""
    args: list[Any] = []
    for column in PROFILE_COLUMNS:
        args += [column in changes, changes.get(column)]
    row = await driver.fetchrow(conn, _UPDATE_PROFILE, user_id, *args, now)
    return dict(row) if row else None


async def demo_patient(conn: Connection, phone: str) -> tuple[uuid.UUID, bool]:
    """The patient with this phone, created if missing: (id, whether they have a wallet)."""
    await driver.execute(conn, _ENSURE_BY_PHONE, phone, begin=True)
    row = await driver.fetchrow(conn, _ID_AND_WALLET, phone)
    assert row is not None
    return row["id"], bool(row["has_wallet"])
